"""Computer use: hand the agent a task and it looks, asks the model, checks the policy, asks the
user when the policy says so, and acts (SAFETY.md). No Qt: the window and `spyglass act` both
drive `loop.Agent`. Modules: `steps` (plain data), `parse` (model output → actions), `tool` (the
`computer` tool and prompt), `policy` (pure rules), `look` (the screen as the model sees it),
`loop` (the agent), `cli` (`spyglass act`)."""
