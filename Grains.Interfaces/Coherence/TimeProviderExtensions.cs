namespace ShopAstro.Coherence;

public static class TimeProviderExtensions
{
    /// <summary><paramref name="span"/> in the units of <see cref="TimeProvider.GetTimestamp"/>, for lease expiries.</summary>
    public static long TimestampTicks(this TimeProvider time, TimeSpan span) => (long)(span.TotalSeconds * time.TimestampFrequency);
}
