// Verifies Standard Webhooks deliveries with the reference JavaScript
// implementation (npm standardwebhooks), independent of sluice's Go code:
// go test ./app/ -run WebhookNode.
//
// stdin: {"secret": "whsec_…", "deliveries": [{"headers": {...}, "body": "…"}]}
// stdout: one line per delivery, "ok" or the verifier's error.
import { Webhook } from "standardwebhooks";

let input = "";
for await (const chunk of process.stdin) input += chunk;
const { secret, deliveries } = JSON.parse(input);
const wh = new Webhook(secret);
for (const d of deliveries) {
  try {
    const payload = wh.verify(d.body, d.headers);
    console.log(payload && payload.type ? "ok" : "no payload");
  } catch (e) {
    console.log("refused: " + e.message);
  }
}
