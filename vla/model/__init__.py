"""The VLA model: a Hugging Face VLM whose vocabulary is extended with action tokens."""
