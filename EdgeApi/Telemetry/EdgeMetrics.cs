using System.Diagnostics;
using System.Diagnostics.Metrics;
using ShopAstro.Grains.Interfaces;

namespace ShopAstro.EdgeApi.Telemetry;

/// <summary>
/// The edge's own instruments. Labels are purposes, outcomes, reasons and sources: never a store or a
/// subject id, so series stay few and nothing personal reaches the metrics.
/// </summary>
public sealed class EdgeMetrics : IDisposable
{
    public const string MeterName = "ShopAstro.Edge";

    private readonly Meter _meter = new(MeterName);
    private readonly Counter<long> _checks;
    private readonly Histogram<double> _decisionDuration;
    private readonly Counter<long> _consentWrites;
    private readonly Histogram<double> _feedLag;
    private readonly Counter<long> _cacheLookups;

    public EdgeMetrics()
    {
        _checks = _meter.CreateCounter<long>("shopastro.checks", "{check}", "Decisions answered, by purpose and outcome.");
        _decisionDuration = _meter.CreateHistogram<double>("shopastro.decision.duration", "s",
            "Time to decide one request (a check or a batch), cluster call included.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1] });
        _consentWrites = _meter.CreateCounter<long>("shopastro.consent.writes", "{write}", "Consent writes, by source and outcome.");
        _feedLag = _meter.CreateHistogram<double>("shopastro.feed.lag", "s",
            "From a change in the cluster to its hand-over to this edge's dashboard connections.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5] });
        _cacheLookups = _meter.CreateCounter<long>("shopastro.decision_cache.lookups", "{lookup}",
            "Subjects decided at this edge, by where the decision inputs came from: hit (a subject lease held here), absent (the store's absence lease: the subject has no record), lease (a new lease from the subject grain), grain (the grain decided: cache off or not registered).");
    }

    /// <summary>This instance's meter: one per edge application, told apart by tests hosting several.</summary>
    public Meter Meter => _meter;

    public void CacheLookup(string result) => _cacheLookups.Add(1, new KeyValuePair<string, object?>("result", result));

    public void Decided(ReadOnlySpan<Decision> decisions, string kind, long startedAt)
    {
        if (decisions.Length <= SmallCount)
        {
            foreach (var decision in decisions)
            {
                Checked(decision, 1);
            }
        }
        else
        {
            // A batch holds few distinct decisions: one measurement per distinct one, with its count.
            var counts = new Dictionary<Decision, int>();
            foreach (var decision in decisions)
            {
                counts[decision] = counts.GetValueOrDefault(decision) + 1;
            }

            foreach (var (decision, count) in counts)
            {
                Checked(decision, count);
            }
        }

        _decisionDuration.Record(Stopwatch.GetElapsedTime(startedAt).TotalSeconds, new KeyValuePair<string, object?>("kind", kind));
    }

    private const int SmallCount = 8;

    private void Checked(Decision decision, int count) =>
        _checks.Add(count,
            new KeyValuePair<string, object?>("purpose", decision.Purpose.ToId()),
            new KeyValuePair<string, object?>("outcome", decision.Allowed ? "allowed" : "denied"),
            new KeyValuePair<string, object?>("reason", decision.Reason.ToCode()));

    public void ConsentWritten(ConsentSource source, string outcome) =>
        _consentWrites.Add(1,
            new KeyValuePair<string, object?>("source", source.ToId()),
            new KeyValuePair<string, object?>("outcome", outcome));

    public void FeedDelivered(DateTimeOffset changedAt) =>
        _feedLag.Record(Math.Max(0, (DateTimeOffset.UtcNow - changedAt).TotalSeconds));

    public void Dispose() => _meter.Dispose();
}
