"""The Gradio app people use, talking only to the gateway's HTTP API."""
