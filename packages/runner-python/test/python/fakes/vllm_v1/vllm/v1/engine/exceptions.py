"""FAKE vllm.v1.engine.exceptions."""


class EngineDeadError(Exception):
    def __init__(self, *args: object) -> None:
        super().__init__(*args or ("EngineCore encountered an issue. See stack trace (above) for the root cause.",))


class EngineGenerateError(Exception):
    pass
