"""Candidates: applying, and the production's reading and editing, each in the request's
unit of work. The rules they enforce (unique email, a past nominee is never deleted) are the
database's, so the queries are the service."""

from db.candidates import create_candidate as create_candidate
from db.candidates import delete_candidate as delete_candidate
from db.candidates import get_candidate as get_candidate
from db.candidates import list_candidates as list_candidates
from db.candidates import update_candidate as update_candidate
