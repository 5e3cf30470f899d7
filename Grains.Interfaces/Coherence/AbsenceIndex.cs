using ShopAstro.Grains.Interfaces;

namespace ShopAstro.Coherence;

/// <summary>
/// Grant side of a store's absence leases, owned by the store grain: the subjects of the store that have a
/// stored record (read from storage once per activation, then added to by each subject after its first commit;
/// never shrunk), leased with the store's committed policy to edges, which decide every other subject as one
/// with an empty record.
/// <para>
/// Invariant: an edge decides a subject as absent only while the subject has no acknowledged record, or until
/// the time <see cref="MarkPresentAsync"/> returned to that subject (its later restrictive changes wait for it).
/// </para>
/// </summary>
public sealed class AbsenceIndex(TimeProvider time, TimeSpan lease, LeaseGrants grants)
{
    private readonly HashSet<string> _present = new(StringComparer.Ordinal);
    private readonly List<string> _log = [];
    private readonly Guid _epoch = Guid.NewGuid();

    // Subjects whose mark is being delivered, or could not reach every holder: until when a holder may still
    // decide them as absent. Only these few are kept; the rest of the index is a set of ids.
    private readonly Dictionary<string, Task<long>> _marking = new(StringComparer.Ordinal);

    public bool Indexed { get; private set; }

    public void Activated() => grants.Activated(lease);

    /// <summary>The subjects read from storage. A subject marked meanwhile was marked after its commit, so the union misses none.</summary>
    public void Loaded(IEnumerable<string> subjectIds)
    {
        foreach (var subjectId in subjectIds)
        {
            if (_present.Add(subjectId))
            {
                _log.Add(subjectId);
            }
        }

        Indexed = true;
    }

    public bool Contains(string subjectId) => _present.Contains(subjectId);

    /// <summary>The id of <paramref name="subjectId"/> as this index holds it, if present: one string per subject in the store grain.</summary>
    public bool TryGetPresent(string subjectId, out string present) => _present.TryGetValue(subjectId, out present!);

    /// <summary>
    /// The store's lease of <paramref name="policy"/>, with its absence part once the index is read; with the holder's
    /// epoch and version, only the subjects added since. Before the index is read the policy is leased alone (every
    /// subject is then decided from its own lease): the holder is counted all the same, so a publish revokes it.
    /// </summary>
    /// <param name="duration">At most the absence lease; shorter when the policy changes sooner.</param>
    public AbsenceLease Lease(IDecisionLeaseHolder holder, StorePolicy? policy, Guid epoch, int since, TimeSpan? duration = null)
    {
        var granted = duration is { } shorter && shorter < lease ? shorter : lease;
        if (granted > TimeSpan.Zero)
        {
            grants.Grant(holder, time.GetTimestamp() + time.TimestampTicks(granted));
        }

        if (!Indexed)
        {
            return new AbsenceLease(policy, _epoch, 0, [], false, TimeSpan.Zero, granted);
        }

        var delta = epoch == _epoch && since >= 0 && since <= _log.Count;
        var present = delta ? _log.GetRange(since, _log.Count - since).ToArray() : _log.ToArray();
        return new AbsenceLease(policy, _epoch, _log.Count, present, delta, granted, granted);
    }

    /// <summary>
    /// The subject has a record: every absence-lease holder is told; with <paramref name="restrictive"/> (the record
    /// denies something an empty one allows) one that could not be told has let its lease run out when this
    /// completes. Returns how long from now a holder may still decide the subject as absent.
    /// </summary>
    public async Task<TimeSpan> MarkPresentAsync(string subjectId, bool restrictive, Func<IDecisionLeaseHolder, Task> addPresent)
    {
        Prune();
        Task<long> marking;
        if (_present.Add(subjectId))
        {
            _log.Add(subjectId);
            marking = grants.CallAsync(addPresent, keepLeases: true);
            _marking[subjectId] = marking;
        }
        else if (!_marking.TryGetValue(subjectId, out marking!))
        {
            return TimeSpan.Zero;
        }

        var unreachedUntil = await marking;
        if (time.GetTimestamp() >= unreachedUntil)
        {
            _marking.Remove(subjectId);
        }

        if (restrictive)
        {
            await grants.SettleAsync(unreachedUntil);
        }

        var now = time.GetTimestamp();
        return now < unreachedUntil ? time.GetElapsedTime(now, unreachedUntil) : TimeSpan.Zero;
    }

    private void Prune()
    {
        if (_marking.Count == 0)
        {
            return;
        }

        var now = time.GetTimestamp();
        foreach (var (subjectId, marking) in _marking)
        {
            if (marking.IsCompletedSuccessfully && marking.Result <= now)
            {
                _marking.Remove(subjectId);
            }
        }
    }

    /// <summary>The policy changed: every absence lease is revoked. Returns until when an unreached holder may use its lease.</summary>
    public Task<long> RevokeAsync(Func<IDecisionLeaseHolder, Task> revokeAbsence) => grants.CallAsync(revokeAbsence, keepLeases: false);

    public Task SettleAsync(long until) => grants.SettleAsync(until);
}
