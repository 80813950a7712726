"""The notifier: events (a case dispatched, a deadline due soon or passed, …) posted to
configured webhooks (GRIDWATCH_NOTIFY_WEBHOOKS) from a durable outbox.

- events.py: the kinds (an open set) and `raise_event`, which writes an event and one
  delivery per target in the caller's transaction, idempotent by the event's dedupe key;
- messages.py: one stored message, three renderings (gridwatch's signed JSON, WeCom and
  DingTalk group robots), with their signatures;
- delivery.py: claims each target's oldest due delivery (a row lock and a lease, committed
  before the post: one worker per target at a time, so a target hears its events in order),
  posts it with no transaction open, records the outcome, and retries with back-off;
- worker.py: one round (scanners, then deliveries) and the loop the server runs in a thread.

This package knows nothing of cases: the sections that raise events build their messages
(app/domain/hotspots/notices.py) and the top layers (app.main, app.cli) hand their scanners
to the worker. Nothing here is called inside a step's transaction except `raise_event`,
which only writes rows: an unreachable webhook never blocks or slows a step."""
