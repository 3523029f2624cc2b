#!/bin/sh
# The lesson's XOR network through the REST API with curl. Start the server first
# (`backprop-lab`), then run `sh examples/curl_session.sh` (or pass another base URL).
# ?history=1 and ?samples=0 keep each reply small (the last history point, one sample's trace);
# jq is not needed: python3 picks the fields to print.
set -eu
API=${1:-http://127.0.0.1:8000}/api/v1
show() {  # print the named top-level fields of the JSON reply on stdin, on one line
  python3 -c 'import json, sys
s = json.load(sys.stdin)
print(" ".join(f"{k}={json.dumps(s[k])}" for k in sys.argv[1:]))' "$@"
}
ID=$(curl -sf -X POST "$API/sessions?history=1&samples=0" -H 'content-type: application/json' \
       -d '{"preset": "seed-xor"}' | python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])')
curl -sf -X POST "$API/sessions/$ID/forward?history=1&samples=0" | show cursor   # z[1], a[1]
curl -sf -X POST "$API/sessions/$ID/forward?history=1&samples=0" | show cursor   # z[2], ŷ, loss
curl -sf -X POST "$API/sessions/$ID/backward?history=1&samples=0" | show cursor  # δ[2], ∂L/∂W[2]
curl -sf -X POST "$API/sessions/$ID/backward?history=1&samples=0" | show cursor  # δ[1], ∂L/∂W[1]
curl -sf -X POST "$API/sessions/$ID/update?history=1&samples=0" | show epoch cursor
curl -sf "$API/sessions/$ID/gradcheck" | python3 -c 'import json, sys
print("gradcheck: backprop and finite differences agree to 1e-6:",
      json.load(sys.stdin)["max_rel_error"] < 1e-6)'
curl -sf -X POST "$API/sessions/$ID/train?history=1&samples=0" -H 'content-type: application/json' \
     -d '{"epochs": 99}' | show epoch ran stopped history_length
curl -sf -o /dev/null -w 'delete: %{http_code}\n' -X DELETE "$API/sessions/$ID"
