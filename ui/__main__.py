"""`python -m ui`: serve the Gradio app."""

from ui.app import main

main()
