"""Evaluation in the LIBERO simulator: ``vla eval --policy CHECKPOINT --suite libero_object``.

One job per module:

- ``config``: ``EvalConfig``, the evaluation's settings (``vla eval``'s options, field for field);
- ``protocols``: the named protocols (step limits, actions per chunk) published numbers were measured with;
- ``policies/``: what can be rolled out (checkpoints, lerobot policies, the scripted controller and expert,
  baselines), each registered under its ``--policy`` spec;
- ``rollout``: one episode as a row (``run_episode``, ``attempt_episode``), seeds, rendering, videos;
- ``vector``: simulator worker processes and one batched policy call for all of them;
- ``results``: success rates and intervals, results.json, lerobot-eval's eval_info.json, the table, the chart;
- ``runner``: ``evaluate``: resume, shard, run, merge.
"""
