"""Response bodies shared by several routes."""

from pydantic import BaseModel


class Message(BaseModel):
    message: str
