namespace ShopAstro.Coherence;

public static class TimeProviderExtensions
{
    /// <summary><paramref name="span"/> in the units of <see cref="TimeProvider.GetTimestamp"/>, for lease expiries.</summary>
    public static long TimestampTicks(this TimeProvider time, TimeSpan span) => (long)(span.TotalSeconds * time.TimestampFrequency);

    /// <summary>
    /// Completes once <see cref="TimeProvider.GetTimestamp"/> has reached <paramref name="timestamp"/>, never before:
    /// a delay is kept in whole milliseconds, and waiting out a lease one millisecond short of its expiry is a lease
    /// still in use (found by the coherence simulation).
    /// </summary>
    public static Task DelayUntilAsync(this TimeProvider time, long timestamp) =>
        time.GetTimestamp() >= timestamp ? Task.CompletedTask : DelayUntilCoreAsync(time, timestamp);

    private static async Task DelayUntilCoreAsync(TimeProvider time, long timestamp)
    {
        for (var now = time.GetTimestamp(); now < timestamp; now = time.GetTimestamp())
        {
            await Task.Delay(TimeSpan.FromMilliseconds(Math.Ceiling(time.GetElapsedTime(now, timestamp).TotalMilliseconds)), time);
        }
    }
}
