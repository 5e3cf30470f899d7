using System.Collections.Concurrent;

namespace ShopAstro.Tests.Coherence.History;

public enum ModelStatus
{
    Active,
    Minor,
    Cancelled,
}

public enum ModelConsent
{
    None,
    Granted,
    Withdrawn,
}

/// <summary>What a subject's record says about the analytics purpose (the one the workload writes and checks).</summary>
public readonly record struct SubjectState(ModelStatus Status, ModelConsent Analytics)
{
    public static SubjectState Initial { get; } = new(ModelStatus.Active, ModelConsent.None);

    /// <summary>As SubjectLeases.Restricts, for this model: a status other than active, or a grant that went.</summary>
    public static bool Restricts(SubjectState before, SubjectState after) =>
        after.Status != ModelStatus.Active || (before.Analytics == ModelConsent.Granted && after.Analytics != ModelConsent.Granted);

    public override string ToString() => $"{Status}/{Analytics}";
}

public readonly record struct PolicyState(int Version, bool Suspended)
{
    public override string ToString() => $"v{Version}{(Suspended ? " suspended" : " active")}";
}

public enum SubjectOp
{
    Grant,
    Withdraw,
    Minor,
    LiftMinor,
    Cancel,
    Erase,
}

/// <summary>The rules of the contract for the workload's operations: the next state, or the refusal code.</summary>
public static class SubjectRules
{
    public static (SubjectState Next, string? Refusal) Apply(SubjectOp op, SubjectState state) => op switch
    {
        SubjectOp.Grant or SubjectOp.Withdraw => state.Status switch
        {
            ModelStatus.Minor => (state, "subject_minor"),
            ModelStatus.Cancelled => (state, "subject_cancelled"),
            _ => (new SubjectState(ModelStatus.Active, op == SubjectOp.Grant ? ModelConsent.Granted : ModelConsent.Withdrawn), null),
        },
        SubjectOp.Minor => state.Status == ModelStatus.Cancelled ? (state, "subject_cancelled") : (new SubjectState(ModelStatus.Minor, ModelConsent.None), null),
        SubjectOp.LiftMinor => state.Status switch
        {
            ModelStatus.Cancelled => (state, "subject_cancelled"),
            ModelStatus.Minor => (new SubjectState(ModelStatus.Active, ModelConsent.None), null),
            _ => (state, null),
        },
        SubjectOp.Cancel => (new SubjectState(ModelStatus.Cancelled, ModelConsent.None), null),
        _ => (state with { Analytics = ModelConsent.None }, null),
    };

    /// <summary>The reason a check of analytics gives (no DNT or GPC), as the decision rules order them.</summary>
    public static string Reason(PolicyState policy, SubjectState subject) =>
        policy.Suspended ? "store_suspended"
        : subject.Status == ModelStatus.Minor ? "minor"
        : subject.Status == ModelStatus.Cancelled ? "account_cancelled"
        : subject.Analytics switch
        {
            ModelConsent.Granted => "granted",
            ModelConsent.Withdrawn => "withdrawn",
            _ => "no_consent",
        };
}

/// <summary>
/// One write as the client saw it. <see cref="After"/>: the states the entity may be in once it ended;
/// <see cref="Intended"/>: the states the write would have produced (for a write known not to be stored, they are
/// not in <see cref="After"/>). <see cref="Restrictive"/>: from some state it may have started from, the change may deny
/// what was allowed; <see cref="Unrestricted"/>: the states it may have started from whose change does not (the grain
/// judges its change from the state it had, so from one of these an edge may still answer after the acknowledgement).
/// </summary>
public sealed record HistoryEvent<TState>(
    string What, long Start, long End, bool Acked, bool Restrictive, bool NotStored, HashSet<TState> After, HashSet<TState> Intended,
    HashSet<TState>? Unrestricted = null)
    where TState : struct;

/// <summary>
/// The writes of one entity (a subject, or the store's policy) by its single writer, in order, with the states each
/// may have left; and which states a check over an interval may answer from under S1 and S2.
/// </summary>
public sealed class Timeline<TState>(TState initial) where TState : struct
{
    private readonly List<HistoryEvent<TState>> _events = [];

    public HashSet<TState> Possible { get; private set; } = [initial];

    public IReadOnlyList<HistoryEvent<TState>> Events => _events;

    public void Add(HistoryEvent<TState> written)
    {
        _events.Add(written);
        Possible = [.. written.After];
    }

    /// <summary>
    /// The states a check that ran from <paramref name="start"/> to <paramref name="end"/> may answer from: those since
    /// the last acknowledged restrictive write that ended before it started (S1), and the states that write may have
    /// started from without its change being restrictive (when what it started from is not known, after a write whose
    /// outcome was not), and those of writes still running or started before it ended; never the intended state of a
    /// write known not to be stored (S2) unless <paramref name="withUnstored"/>; with <paramref name="ignoreRestrictions"/>,
    /// every state since the beginning.
    /// </summary>
    public HashSet<TState> Admissible(long start, long end, bool withUnstored = false, bool ignoreRestrictions = false)
    {
        var last = _events.FindLastIndex(e => e.End < start);
        var from = ignoreRestrictions || last < 0 ? -1 : _events.FindLastIndex(last, last + 1, e => e.Acked && e.Restrictive);
        var states = new HashSet<TState>();
        if (from < 0)
        {
            states.Add(initial);
        }
        else if (_events[from].Unrestricted is { } unrestricted)
        {
            states.UnionWith(unrestricted);
        }

        for (var i = Math.Max(from, 0); i < _events.Count; i++)
        {
            var written = _events[i];
            if (i > last && written.Start >= end)
            {
                break;
            }

            states.UnionWith(written.After);
            if (withUnstored)
            {
                states.UnionWith(written.Intended);
            }
        }

        return states;
    }
}

/// <summary>A check as the client saw it.</summary>
public sealed record CheckRecord(string Edge, string Subject, long Start, long End, string Reason, int? PolicyVersion);

/// <summary>The whole history of a run and its check against S1-S4.</summary>
public sealed class HistoryLog(IEnumerable<string> subjects)
{
    public Dictionary<string, Timeline<SubjectState>> Subjects { get; } = subjects.ToDictionary(s => s, _ => new Timeline<SubjectState>(SubjectState.Initial));

    public Timeline<PolicyState> Policy { get; } = new(new PolicyState(1, false));

    public ConcurrentQueue<CheckRecord> Checks { get; } = new();

    public ConcurrentQueue<string> Violations { get; } = new();

    public int FailedChecks;

    /// <summary>S1, S2 and S4 over every check; S3 was judged as answers came in (an answer no allowed state explains).</summary>
    public IReadOnlyList<string> Check()
    {
        var found = new List<string>(Violations);
        foreach (var check in Checks)
        {
            var subject = Subjects[check.Subject];
            if (Explains(check, Policy.Admissible(check.Start, check.End), subject.Admissible(check.Start, check.End)))
            {
                continue;
            }

            var kind =
                Explains(check, Policy.Admissible(check.Start, check.End, withUnstored: true), subject.Admissible(check.Start, check.End, withUnstored: true))
                    ? "S2 (answered from a write that was never stored)"
                : Explains(check, Policy.Admissible(check.Start, check.End, ignoreRestrictions: true), subject.Admissible(check.Start, check.End, ignoreRestrictions: true))
                    ? check.Reason is "granted" or "no_consent" or "withdrawn" && subject.Admissible(check.Start, check.End).All(s => s.Status != ModelStatus.Active)
                        ? "S4 (a minor or cancelled subject answered as active)"
                        : "S1 (answered from before an acknowledged restrictive change)"
                : "S2 (an answer no written state gives)";
            found.Add($"{kind}: {check.Edge} checked {check.Subject} in [{check.Start}, {check.End}]: {check.Reason} under v{check.PolicyVersion}; " +
                $"allowed: {string.Join(", ", subject.Admissible(check.Start, check.End))} under {string.Join(", ", Policy.Admissible(check.Start, check.End))}");
        }

        return found;
    }

    private static bool Explains(CheckRecord check, HashSet<PolicyState> policies, HashSet<SubjectState> subjects) =>
        policies.Any(p => (check.PolicyVersion is null || check.PolicyVersion == p.Version) && subjects.Any(s => SubjectRules.Reason(p, s) == check.Reason));
}
