"""What tests share beyond fixtures: a live server (`server`), a consumer process
(`consumer`), a free port (`ports`), paredões made through the API (`paredoes`), and a load
of votes that remembers every answer, with the checks a drill ends with (`votes`)."""
