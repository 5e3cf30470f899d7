namespace ShopAstro.Tests.Infrastructure;

/// <summary>A monotonic clock a test sets by hand (<see cref="Now"/>, in ticks of a second's ten millionth).</summary>
public sealed class SteppingTime : TimeProvider
{
    public long Now { get; set; }

    public override long TimestampFrequency => TimeSpan.TicksPerSecond;

    public override long GetTimestamp() => Now;
}
