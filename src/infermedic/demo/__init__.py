"""Demo services with planted faults: write them, run them, send them traffic.

- `infermedic.demo.scenarios`: `SCENARIOS`, `list_scenarios()`.
- `infermedic.demo.repository`: `write_scenario(name, dir)`.
- `infermedic.demo.service`: `running_scenario(name)` serves one on 127.0.0.1 in a subprocess.
- `infermedic.demo.traffic`: `generate_traffic(scenario, url, requests=...)`.
"""
