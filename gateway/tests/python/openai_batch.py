"""Runs a batch through AI Hub with the official OpenAI Python SDK, unmodified:
upload a JSONL file, create a batch, poll it to the end, download the output
and error files. Also checks that a bad input file makes a failed batch whose
errors name its lines. Reads AIHUB_BASE_URL, AIHUB_API_KEY, AIHUB_ITEMS;
prints one JSON report on stdout.
"""
import io
import json
import os
import time

from openai import OpenAI

client = OpenAI(base_url=os.environ["AIHUB_BASE_URL"], api_key=os.environ["AIHUB_API_KEY"], max_retries=0)
n = int(os.environ.get("AIHUB_ITEMS", "20"))
report = {}

lines = [
    {
        "custom_id": f"req-{i}",
        "method": "POST",
        "url": "/v1/chat/completions",
        "body": {
            "model": "gpt-4o-mini",
            "max_tokens": 3,
            "messages": [{"role": "user", "content": f"item {i} [[stub words=3]]"}],
        },
    }
    for i in range(n)
]
# One line the gateway refuses (no such model): it lands in the error file.
lines.append(
    {
        "custom_id": "bad-model",
        "method": "POST",
        "url": "/v1/chat/completions",
        "body": {"model": "no-such-model", "messages": [{"role": "user", "content": "x"}]},
    }
)
data = "\n".join(json.dumps(line) for line in lines).encode()
uploaded = client.files.create(file=("requests.jsonl", io.BytesIO(data)), purpose="batch")
report["file_bytes"] = uploaded.bytes
report["file_purpose"] = uploaded.purpose

batch = client.batches.create(
    input_file_id=uploaded.id,
    endpoint="/v1/chat/completions",
    completion_window="24h",
    metadata={"job": "sdk-test"},
)
report["created_status"] = batch.status
deadline = time.time() + 60
while batch.status not in ("completed", "failed", "expired", "cancelled"):
    if time.time() > deadline:
        raise SystemExit(f"batch never finished: {batch}")
    time.sleep(0.1)
    batch = client.batches.retrieve(batch.id)
report["status"] = batch.status
report["counts"] = {
    "total": batch.request_counts.total,
    "completed": batch.request_counts.completed,
    "failed": batch.request_counts.failed,
}
report["metadata"] = batch.metadata
output = [json.loads(line) for line in client.files.content(batch.output_file_id).text.splitlines() if line]
errors = [json.loads(line) for line in client.files.content(batch.error_file_id).text.splitlines() if line]
report["output_custom_ids"] = [o["custom_id"] for o in output]
report["output_status_codes"] = sorted({o["response"]["status_code"] for o in output})
report["output_texts"] = [o["response"]["body"]["choices"][0]["message"]["content"] for o in output[:2]]
report["output_request_ids"] = [o["response"]["request_id"] for o in output]
report["error_custom_ids"] = [e["custom_id"] for e in errors]
report["error_status_codes"] = [e["response"]["status_code"] if e["response"] else None for e in errors]
report["listed"] = [b.id for b in client.batches.list(limit=10)]
report["batch_id"] = batch.id

# A file with a duplicate custom_id and a bad line: the batch fails, naming them.
bad = "\n".join([json.dumps(lines[0]), json.dumps(lines[0]), "not json"]).encode()
bad_file = client.files.create(file=("bad.jsonl", io.BytesIO(bad)), purpose="batch")
failed = client.batches.create(input_file_id=bad_file.id, endpoint="/v1/chat/completions", completion_window="24h")
report["bad_status"] = failed.status
report["bad_errors"] = [(e.code, e.line) for e in failed.errors.data]

# Deleting a file.
deleted = client.files.delete(bad_file.id)
report["deleted"] = deleted.deleted
print(json.dumps(report))
