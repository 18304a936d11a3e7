"""`harness doctor`: the source design's setup checklist (section 1) as code (docs/doctor.md).

checks.py asks any platform, the emulator or DingTalk, one harmless call per item; rig.py runs the
checklist against a platform URL, or starts an emulator and a bot on 127.0.0.1 to check against.
"""
