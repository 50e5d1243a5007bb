"""The collector: result files to the seeds' Markdown tables (or CSV, JSON), a chart and a page.

One module per job: `records` reads and checks a file, `runs` boils each down to
the figures used (reading large folders with a pool of processes), `groups` gathers repeats
into configurations, `labels` names things as the seeds do, `tables` lays out the
seeds' tables as Markdown, `export` writes CSV and JSON, `chart` draws the PNG,
`published` reads the seeds' tables back, `compare` sets two result sets side by side
(matched on `match`'s fields) and `compare_text` writes that as Markdown or JSON,
`process_table` is the sweep's closing table, `history` follows each configuration's speed
over builds, `html` lays all of it out as one self-contained page (templates/report.html),
`output` is what the collect and compare commands (harness/commands/) print, and `cli`
maps `python harness/collect.py`'s spellings onto those two commands.
No module here imports a deep-learning framework.
"""
