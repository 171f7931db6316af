"""Drives AI Hub's gateway with the official OpenAI Python SDK, unmodified.

Reads AIHUB_BASE_URL and AIHUB_API_KEY; prints one JSON report on stdout.
"""
import json
import os

from openai import OpenAI

client = OpenAI(base_url=os.environ["AIHUB_BASE_URL"], api_key=os.environ["AIHUB_API_KEY"], max_retries=0)
report = {}

chat = client.chat.completions.create(
    model="gpt-4o-mini",
    messages=[{"role": "user", "content": "Say something [[stub words=6]]"}],
)
report["chat_completion_tokens"] = chat.usage.completion_tokens
report["chat_text"] = chat.choices[0].message.content

words = []
for chunk in client.chat.completions.create(
    model="gpt-4o-mini",
    messages=[{"role": "user", "content": "Stream please [[stub words=4]]"}],
    stream=True,
):
    if chunk.choices and chunk.choices[0].delta.content:
        words.append(chunk.choices[0].delta.content)
report["stream_words"] = len("".join(words).split())

usage = None
for chunk in client.chat.completions.create(
    model="gpt-4o-mini",
    messages=[{"role": "user", "content": "Stream with usage [[stub words=4]]"}],
    stream=True,
    stream_options={"include_usage": True},
):
    if chunk.usage is not None:
        usage = chunk.usage
report["stream_usage_completion_tokens"] = usage.completion_tokens if usage else None

emb = client.embeddings.create(model="text-embedding-3-small", input=["first text", "second text"])
report["embeddings"] = len(emb.data)

report["models"] = [m.id for m in client.models.list()]

print(json.dumps(report))
