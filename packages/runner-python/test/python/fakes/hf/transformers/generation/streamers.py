"""FAKE transformers.generation.streamers.BaseStreamer."""


class BaseStreamer:
    def put(self, value):  # noqa: ANN001
        raise NotImplementedError()

    def end(self):  # noqa: ANN201
        raise NotImplementedError()
