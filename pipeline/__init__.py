"""How an accepted vote becomes durable: the ballots the API hands over, and the writers."""
