using ShopAstro.Coherence;
using ShopAstro.Grains.Interfaces;

namespace ShopAstro.Tests.Coherence.Simulation;

/// <summary>
/// Everything the simulated clients saw, with start and end times, and every commit; <see cref="Check"/> verifies
/// S1-S4 over it. States are told apart by <see cref="SubjectRecord.LastWrittenAt"/>, which the simulation makes
/// unique per state (a record without one is "no record").
/// </summary>
public sealed class SimHistory(SimClock clock)
{
    private long _stamps;
    private readonly Dictionary<string, List<(SubjectRecord Record, SubjectRecord BasedOn, bool ExplicitRoute, bool Cleared, long At, int WriteId)>> _commits = [];
    private readonly List<(string Subject, int WriteId, long FailedAt)> _failed = [];
    private readonly List<(string Subject, long Start, long End, SubjectRecord Result)> _acknowledged = [];
    private readonly List<(string Edge, string Subject, long Start, long End, SubjectRecord? Answer, StorePolicy? Policy)> _checks = [];
    private readonly List<(StorePolicy Policy, long At)> _policyCommits = [];
    private readonly List<(long Start, long End, StorePolicy Policy)> _publishes = [];

    public int Writes { get; private set; }

    public int FailedWrites { get; private set; }

    public int Checks => _checks.Count;

    public int FailedChecks { get; private set; }

    public int Commits => _commits.Values.Sum(c => c.Count);

    public int Publishes { get; private set; }

    public int AcknowledgedPublishes => _publishes.Count;

    public void PolicyCommitted(StorePolicy policy) => _policyCommits.Add((policy, clock.Ticks));

    public int ScheduledPublishes { get; private set; }

    public void Published(long start, StorePolicy? result)
    {
        Publishes++;
        if (result is not null)
        {
            _publishes.Add((start, clock.Ticks, result));
        }
    }

    /// <summary>A scheduled version: if its publish was acknowledged, it is as acknowledged at its instant.</summary>
    public void Scheduled(long start, StorePolicy? result)
    {
        Publishes++;
        ScheduledPublishes++;
        if (result is not null)
        {
            var instant = Ticks(result.EffectiveAt!.Value);
            _publishes.Add((instant, instant, result));
        }
    }

    /// <summary>A time of the simulated wall clock as ticks of the simulation's clock.</summary>
    private long Ticks(DateTimeOffset at) => clock.Ticks + (at - clock.GetUtcNow()).Ticks;

    public DateTimeOffset NewStamp() => clock.GetUtcNow().AddTicks(++_stamps);

    public void Committed(string subject, SubjectRecord record, SubjectRecord basedOn, bool explicitRoute, bool cleared, int writeId)
    {
        if (!_commits.TryGetValue(subject, out var commits))
        {
            _commits[subject] = commits = [];
        }

        commits.Add((record, basedOn, explicitRoute, cleared, clock.Ticks, writeId));
    }

    public void Wrote(string subject, long start, SubjectRecord? result, int writeId)
    {
        Writes++;
        if (result is null)
        {
            FailedWrites++;
            _failed.Add((subject, writeId, clock.Ticks));
        }
        else
        {
            _acknowledged.Add((subject, start, clock.Ticks, result));
        }
    }

    public void Checked(string edge, string subject, long start, SubjectRecord? answer, StorePolicy? policy, bool failed)
    {
        if (failed)
        {
            FailedChecks++;
        }
        else
        {
            _checks.Add((edge, subject, start, clock.Ticks, answer, policy));
        }
    }

    /// <summary>
    /// The position of a state in its subject's commit order (null: never committed). No record is the latest deletion
    /// of the row committed by <paramref name="before"/> (-1: none, before every commit).
    /// </summary>
    private int? Order(string subject, SubjectRecord? record, long before = long.MaxValue)
    {
        var commits = _commits.GetValueOrDefault(subject) ?? [];
        if (record?.LastWrittenAt is not { } stamp)
        {
            return commits.FindLastIndex(c => c.Cleared && c.At <= before);
        }

        var index = commits.FindIndex(c => c.Record.LastWrittenAt == stamp);
        return index < 0 ? null : index;
    }

    public List<string> Check()
    {
        var violations = new List<string>();
        var acknowledged = _acknowledged.GroupBy(a => a.Subject).ToDictionary(g => g.Key, g => g.OrderBy(a => a.End).ToList());
        foreach (var (edge, subject, start, end, answer, policy) in _checks)
        {
            // The policy: only a committed version (S2), and none older than a publish acknowledged before the check
            // started (S1; every publish counts as restrictive). Versions are told apart by their publish time too.
            if (policy is null || !_policyCommits.Any(c => c.Policy.Version == policy.Version && c.Policy.PublishedAt == policy.PublishedAt))
            {
                violations.Add($"S2: {edge} decided {subject} at {start} under a policy that was never stored (version {policy?.Version})");
            }
            else if (policy.EffectiveAt is { } effectiveAt && end < Ticks(effectiveAt))
            {
                violations.Add($"S1: {edge} decided {subject} in [{start}, {end}] under policy {policy.Version}, before it took effect at {Ticks(effectiveAt)}");
            }
            else if (_publishes.Where(p => p.End < start).Select(p => p.Policy).MaxBy(p => p.Version) is { } published
                     && (policy.Version < published.Version || (policy.Version == published.Version && policy.PublishedAt != published.PublishedAt)))
            {
                var acknowledgedAt = _publishes.First(p => ReferenceEquals(p.Policy, published)).End;
                violations.Add($"S1: {edge} decided {subject} in [{start}, {end}] under policy {policy.Version}, after policy {published.Version} was acknowledged at {acknowledgedAt}");
            }

            var answered = Order(subject, answer, end);
            if (answered is null)
            {
                violations.Add($"S2: {edge} decided {subject} at {start} from a state that was never stored ({answer!.LastWrittenAt:O})");
                continue;
            }

            foreach (var write in acknowledged.GetValueOrDefault(subject) ?? [])
            {
                if (write.End >= start)
                {
                    break;
                }

                // S1: the acknowledged state came after the answered one and denies something it allowed.
                if (Order(subject, write.Result, write.End) is { } written && written > answered
                    && SubjectLeases.Restricts(answer ?? SubjectRecord.Empty, write.Result))
                {
                    violations.Add($"S1: {edge} decided {subject} in [{start}, {end}] from state #{answered}, after state #{written} ({write.Result.Status}) was acknowledged at {write.End}");
                    break;
                }
            }
        }

        foreach (var (subject, start, end, result) in _acknowledged)
        {
            if (Order(subject, result, end) is null)
            {
                violations.Add($"S3: {subject}: a write acknowledged at {end} was never stored");
            }
        }

        // A write its client saw fail is stored before the failure was reported, or never: otherwise it takes effect after
        // writes of the same client that were acknowledged since.
        foreach (var (subject, writeId, failedAt) in _failed)
        {
            if ((_commits.GetValueOrDefault(subject) ?? []).FirstOrDefault(c => c.WriteId == writeId && c.At > failedAt) is { Record: not null } late)
            {
                violations.Add($"S3: {subject}: write {writeId} failed for its client at {failedAt} and was stored at {late.At}");
            }
        }

        foreach (var (subject, commits) in _commits)
        {
            for (var i = 0; i < commits.Count; i++)
            {
                var (record, basedOn, explicitRoute, _, _, _) = commits[i];
                var previous = i == 0 ? null : commits[i - 1].Record;
                // A write is based on the commit before it; on no record only first, or after a deletion of the row.
                var expected = i == 0 || commits[i - 1].Cleared ? null : previous!.LastWrittenAt;
                if (basedOn.LastWrittenAt != expected)
                {
                    violations.Add($"S3: {subject}: commit #{i} was based on a state other than commit #{i - 1}: a write was lost");
                }

                if (previous?.Status == SubjectStatus.Cancelled && record.Status != SubjectStatus.Cancelled)
                {
                    violations.Add($"S4: {subject}: a cancellation was undone by commit #{i}");
                }

                if (previous?.Status == SubjectStatus.Minor && record.Status != SubjectStatus.Minor && !explicitRoute
                    && record.Status != SubjectStatus.Cancelled)
                {
                    violations.Add($"S4: {subject}: a minor's status was lifted by commit #{i} without the explicit route");
                }
            }
        }

        return violations;
    }
}
