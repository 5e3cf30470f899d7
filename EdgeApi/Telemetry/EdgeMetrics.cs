using System.Diagnostics;
using System.Diagnostics.Metrics;
using ShopAstro.Grains.Interfaces;

namespace ShopAstro.EdgeApi.Telemetry;

/// <summary>Where the decision inputs of a subject decided at this edge came from (the <c>result</c> label).</summary>
public enum CacheLookup
{
    /// <summary>A subject lease held here.</summary>
    Hit,

    /// <summary>The store's absence lease: the subject has no record.</summary>
    Absent,

    /// <summary>A new lease from the subject grain.</summary>
    Lease,

    /// <summary>The grain decided: cache off or not registered.</summary>
    Grain,
}

/// <summary>
/// The edge's own instruments. Labels are purposes, outcomes, reasons and sources: never a store or a
/// subject id, so series stay few and nothing personal reaches the metrics.
/// </summary>
/// <remarks>
/// The two counters every check adds to are kept as plain cells (one per label combination, an interlocked add each,
/// in a copy per core: <see cref="StripedCounters"/>) and observed when the metrics are read: a counter measurement
/// with three labels costs the SDK a lookup of the label set per call, which was about 6 % of the edge's CPU on the
/// single-check path (load-tests/).
/// </remarks>
public sealed class EdgeMetrics : IDisposable
{
    public const string MeterName = "ShopAstro.Edge";

    private static readonly int ReasonCount = Enum.GetValues<DecisionReason>().Max(r => (int)r) + 1;
    private static readonly int PurposeCount = Enum.GetValues<Purpose>().Max(p => (int)p) + 1;
    private static readonly CacheLookup[] LookupResults = Enum.GetValues<CacheLookup>();

    private readonly Meter _meter = new(MeterName);
    private readonly StripedCounters _checks = new(PurposeCount * ReasonCount * 2);
    private readonly StripedCounters _cacheLookups = new(LookupResults.Length);
    private readonly Histogram<double> _decisionDuration;
    private readonly Counter<long> _consentWrites;
    private readonly Histogram<double> _feedLag;

    public EdgeMetrics()
    {
        _meter.CreateObservableCounter("shopastro.checks", ObserveChecks, "{check}", "Decisions answered, by purpose and outcome.");
        _decisionDuration = _meter.CreateHistogram<double>("shopastro.decision.duration", "s",
            "Time to decide one request (a check or a batch), cluster call included.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1] });
        _consentWrites = _meter.CreateCounter<long>("shopastro.consent.writes", "{write}", "Consent writes, by source and outcome.");
        _feedLag = _meter.CreateHistogram<double>("shopastro.feed.lag", "s",
            "From a change in the cluster to its hand-over to this edge's dashboard connections.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5] });
        _meter.CreateObservableCounter("shopastro.decision_cache.lookups", ObserveLookups, "{lookup}",
            "Subjects decided at this edge, by where the decision inputs came from: hit (a subject lease held here), absent (the store's absence lease: the subject has no record), lease (a new lease from the subject grain), grain (the grain decided: cache off or not registered).");
    }

    /// <summary>This instance's meter: one per edge application, told apart by tests hosting several.</summary>
    public Meter Meter => _meter;

    /// <summary>How the decision cache's lease requests travel: how many were sent, in how many batches.</summary>
    public void ObserveLeaseBatches(Func<long> requests, Func<long> batches)
    {
        _meter.CreateObservableCounter("shopastro.decision_cache.lease_requests", requests, "{request}",
            "Subject lease requests this edge sent in batches (DecisionCache:LeaseBatchesInFlight).");
        _meter.CreateObservableCounter("shopastro.decision_cache.lease_batches", batches, "{batch}",
            "Batches of subject lease requests this edge sent: one cluster call each.");
    }

    /// <summary>The decision cache's subject leases (they run until revoked): how many are held, and how many were dropped past its capacity.</summary>
    public void ObserveSubjectLeases(Func<int> held, Func<long> dropped)
    {
        _meter.CreateObservableGauge("shopastro.decision_cache.subject_leases", held, "{lease}",
            "Subject leases this edge holds (at most DecisionCache:MaxSubjects).");
        _meter.CreateObservableCounter("shopastro.decision_cache.subject_leases_dropped", dropped, "{lease}",
            "Subject leases this edge dropped to stay within DecisionCache:MaxSubjects (their subjects' next checks ask the grains).");
    }

    public void Looked(CacheLookup result) => _cacheLookups.Increment((int)result);

    public void Decided(ReadOnlySpan<Decision> decisions, string kind, long startedAt)
    {
        // One add per decision, a batch's too: the cells are per core, so adds do not contend.
        foreach (var decision in decisions)
        {
            Checked(decision);
        }

        _decisionDuration.Record(Stopwatch.GetElapsedTime(startedAt).TotalSeconds, new KeyValuePair<string, object?>("kind", kind));
    }

    private void Checked(Decision decision) =>
        _checks.Increment((((int)decision.Purpose * ReasonCount) + (int)decision.Reason) * 2 + (decision.Allowed ? 1 : 0));

    private IEnumerable<Measurement<long>> ObserveChecks()
    {
        for (var cell = 0; cell < _checks.Cells; cell++)
        {
            if (_checks.Read(cell) is var count and > 0)
            {
                var purpose = (Purpose)(cell / 2 / ReasonCount);
                var reason = (DecisionReason)(cell / 2 % ReasonCount);
                yield return new Measurement<long>(count,
                    new KeyValuePair<string, object?>("purpose", purpose.ToId()),
                    new KeyValuePair<string, object?>("outcome", cell % 2 == 1 ? "allowed" : "denied"),
                    new KeyValuePair<string, object?>("reason", reason.ToCode()));
            }
        }
    }

    private IEnumerable<Measurement<long>> ObserveLookups()
    {
        foreach (var result in LookupResults)
        {
            yield return new Measurement<long>(_cacheLookups.Read((int)result),
                new KeyValuePair<string, object?>("result", result.ToString().ToLowerInvariant()));
        }
    }

    public void ConsentWritten(ConsentSource source, string outcome) =>
        _consentWrites.Add(1,
            new KeyValuePair<string, object?>("source", source.ToId()),
            new KeyValuePair<string, object?>("outcome", outcome));

    public void FeedDelivered(DateTimeOffset changedAt) =>
        _feedLag.Record(Math.Max(0, (DateTimeOffset.UtcNow - changedAt).TotalSeconds));

    public void Dispose() => _meter.Dispose();
}
