using HdrHistogram;

namespace ShopAstro.LoadTests;

/// <summary>Latency percentiles in milliseconds.</summary>
public sealed record LatencySummary(long Count, double P50, double P90, double P99, double P999, double Max, double Mean)
{
    /// <summary>From a histogram recorded in microseconds.</summary>
    public static LatencySummary FromMicros(HistogramBase histogram) => histogram.TotalCount == 0
        ? new LatencySummary(0, 0, 0, 0, 0, 0, 0)
        : new LatencySummary(
            histogram.TotalCount,
            Ms(histogram.GetValueAtPercentile(50)),
            Ms(histogram.GetValueAtPercentile(90)),
            Ms(histogram.GetValueAtPercentile(99)),
            Ms(histogram.GetValueAtPercentile(99.9)),
            Ms(histogram.GetMaxValue()),
            Math.Round(histogram.GetMean() / 1000.0, 3));

    private static double Ms(long micros) => Math.Round(micros / 1000.0, 3);
}

/// <summary>A thread-safe microsecond histogram (1 µs .. 2 min, 3 significant digits).</summary>
public sealed class MicrosHistogram
{
    private readonly LongHistogram _histogram = new(120_000_000L, 3);

    public void Record(long micros)
    {
        lock (_histogram)
        {
            _histogram.RecordValue(Math.Clamp(micros, 1, 120_000_000L));
        }
    }

    public void RecordTicks(long stopwatchTicks) => Record(stopwatchTicks * 1_000_000 / System.Diagnostics.Stopwatch.Frequency);

    public LatencySummary Summary()
    {
        lock (_histogram)
        {
            return LatencySummary.FromMicros(_histogram);
        }
    }
}
