# The pytester fixture tests the dual-runtime plugin itself (tests/tools/test_dual_runtime.py).
pytest_plugins = ["pytester"]
