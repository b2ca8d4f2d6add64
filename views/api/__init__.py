"""The JSON API's request and response schemas (Pydantic), and its parameters."""
