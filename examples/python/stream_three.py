"""Streams three simulated models through the Python binding and prints their results
(`pip install ./bindings/python`, then `python examples/python/stream_three.py`)."""
import asyncio
from llm_compare import Engine

async def main() -> None:
    engine = Engine()
    comparison = engine.compare("Why is the sky blue?", models=["sim/echo", "sim/lorem", "sim/slow"], max_tokens=20)
    async for event in comparison:
        if event.type == "model_result":
            print(event.model, event.timing["ttft_ms"], "ms:", event.text)

asyncio.run(main())
