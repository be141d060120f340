"""Three models, each running its own tool loop with two Python functions as tools."""
import asyncio

from llm_compare import Engine


def square(x: float) -> float:
    """Squares a number.

    Args:
        x: the number
    """
    return x * x


async def weather(city: str, unit: str = "celsius") -> str:
    """The weather in a city."""
    await asyncio.sleep(0.01)
    return f"21 degrees {unit} in {city}"


async def main() -> None:
    engine = Engine()
    comparison = engine.compare("square 12", models=["sim/agent"] * 3, tools=[square, weather])
    async for event in comparison:
        if event.type in ("tool_call", "tool_result", "model_result"):
            print(event.model_index, event.type, event.get("name") or "", event.get("content") or event.get("text") or "")


asyncio.run(main())
