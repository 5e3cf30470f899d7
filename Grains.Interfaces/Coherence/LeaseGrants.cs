using ShopAstro.Grains.Interfaces;

namespace ShopAstro.Coherence;

/// <summary>
/// Grant side of the lease protocol, one per grain activation: the leases it handed to edge processes (a
/// subject's decision leases, a store's absence leases) and the calls that revoke or update them.
/// <para>
/// Guarantees to its owner: after <see cref="CallAsync"/> returns <c>t</c>, no holder can use a lease older
/// than the call except until <c>t</c> (0: none). Leases granted by an earlier activation (on a silo that may
/// have died, or a duplicate) are unknown to this one: until they must have run out, or one call reached every
/// edge the registry named (<see cref="PreviousActivationMayHold"/>), calls go to every edge in the registry,
/// and an edge the registry could not name counts as unreached.
/// </para>
/// <para>
/// A holder that does not confirm a call about a lease running longer than a registration (a subject's lease runs
/// until revoked) is expelled (<see cref="HolderExpulsions"/>, docs/coherence.md L3) rather than waited out: its lease
/// then ends with its registration, which is <c>t</c>, and later calls count it until then as any unreached holder's.
/// When it cannot be expelled, the call throws: no bound on that holder's lease is known.
/// </para>
/// Grants may interleave with a call that is out: a lease granted meanwhile carries the new state and is kept.
/// </summary>
public sealed class LeaseGrants(LeaseGrantSettings settings, ILeaseFailureLog log)
{
    private (IDecisionLeaseHolder Holder, long ExpiresAt, long GrantedAt)[] _holders = [];
    private long _unknownUntil;
    private long _activatedAt;

    /// <summary>A new activation: leases of the previous one run until at most <paramref name="lease"/> from now (null: until revoked).</summary>
    public void Activated(TimeSpan? lease)
    {
        _activatedAt = settings.Time.GetTimestamp();
        _unknownUntil = lease is { } length ? _activatedAt + settings.Time.TimestampTicks(length) : long.MaxValue;
    }

    /// <summary>Whether an earlier activation's leases, of a state this one may never have seen, may still be used.</summary>
    public bool PreviousActivationMayHold => _unknownUntil > settings.Time.GetTimestamp();

    public void Grant(IDecisionLeaseHolder holder, long expiresAt)
    {
        var now = settings.Time.GetTimestamp();
        for (var i = 0; i < _holders.Length; i++)
        {
            if (_holders[i].Holder.Equals(holder))
            {
                _holders[i] = (_holders[i].Holder, Math.Max(_holders[i].ExpiresAt, expiresAt), now);
                return;
            }
        }

        _holders = [.. _holders, (holder, expiresAt, now)];
    }

    /// <summary>
    /// Calls every holder whose lease may still run (and, while <see cref="PreviousActivationMayHold"/>, every
    /// registered edge). With <paramref name="keepLeases"/> the leases stay (the call updated them); otherwise
    /// only those of holders that could not be reached are remembered, with the leases granted while the call
    /// was out. Returns until when a holder that could not be reached may still use an outdated lease (0: none).
    /// </summary>
    public async Task<long> CallAsync(Func<IDecisionLeaseHolder, Task> call, bool keepLeases)
    {
        var startedAt = settings.Time.GetTimestamp();
        var targets = new List<(IDecisionLeaseHolder Holder, long ExpiresAt)>(_holders.Length);
        foreach (var holder in _holders)
        {
            if (holder.ExpiresAt > startedAt)
            {
                targets.Add((holder.Holder, holder.ExpiresAt));
            }
        }

        var waitUntil = 0L;
        var unknownUntil = _unknownUntil;
        var unknownFrom = targets.Count;
        if (unknownUntil > startedAt)
        {
            try
            {
                foreach (var holder in await settings.Registered.ReadSinceAsync(_activatedAt).WaitAsync(settings.RevokeTimeout, settings.Time))
                {
                    if (!targets.Exists(t => t.Holder.Equals(holder)))
                    {
                        targets.Add((holder, unknownUntil));
                    }
                }
            }
            catch (Exception exception) when (unknownUntil != long.MaxValue)
            {
                log.LeaseCallFailed(exception, "the lease holder registry did not answer; relying on lease expiry");
                waitUntil = unknownUntil;
            }
        }

        var registryRead = waitUntil == 0;
        var reached = await Task.WhenAll(targets.Select(target => ReachAsync(target.Holder, call)));

        // A holder not reached whose lease would outlast an expulsion is expelled instead of waited out.
        var expelAfter = startedAt + settings.Time.TimestampTicks(ILeaseHolderRegistryGrain.Expiry);
        var expelling = new List<int>();
        for (var i = 0; i < targets.Count; i++)
        {
            if (!reached[i] && targets[i].ExpiresAt > expelAfter)
            {
                expelling.Add(i);
            }
        }

        // An expelled holder is still unreached, but its lease now ends with its registration.
        var expelled = await Task.WhenAll(expelling.Select(i => ExpelAsync(targets[i].Holder)));
        Exception? notExpelled = null;
        var wasExpelled = new bool[targets.Count];
        for (var e = 0; e < expelling.Count; e++)
        {
            if (expelled[e].Failure is { } failure)
            {
                notExpelled = failure;
            }
            else
            {
                var i = expelling[e];
                targets[i] = (targets[i].Holder, expelled[e].Until);
                wasExpelled[i] = true;
            }
        }

        var unknownReached = registryRead;
        var unreached = new List<(IDecisionLeaseHolder Holder, long ExpiresAt)>();
        for (var i = 0; i < targets.Count; i++)
        {
            if (!reached[i])
            {
                // Still usable by that edge until it runs out: a later change must reach it or wait for it too.
                unreached.Add(targets[i]);
                waitUntil = Math.Max(waitUntil, targets[i].ExpiresAt);
                // An earlier activation's holder that was expelled is known from now on, with the end of its lease.
                unknownReached &= i < unknownFrom || wasExpelled[i];
            }
            else if (keepLeases && i >= unknownFrom)
            {
                // An earlier activation's holder, updated: from now on a known one.
                Grant(targets[i].Holder, targets[i].ExpiresAt);
            }
        }

        if (!keepLeases)
        {
            // What was revoked goes; what was granted meanwhile (with the new state) and what was not reached stay.
            var kept = _holders.Where(h => h.GrantedAt > startedAt).ToList();
            foreach (var (holder, expiresAt) in unreached)
            {
                var at = kept.FindIndex(k => k.Holder.Equals(holder));
                if (at < 0)
                {
                    kept.Add((holder, expiresAt, startedAt));
                }
                else if (kept[at].ExpiresAt < expiresAt)
                {
                    kept[at] = (holder, expiresAt, kept[at].GrantedAt);
                }
            }

            _holders = [.. kept];
        }

        if (unknownReached && _unknownUntil == unknownUntil)
        {
            // Every edge the registry knows was reached: no lease of an earlier activation is left unknown.
            _unknownUntil = 0;
        }

        if (notExpelled is not null)
        {
            throw new TimeoutException("An edge did not confirm a lease revocation and could not be expelled; the change is not acknowledged.", notExpelled);
        }

        return waitUntil;
    }

    private async Task<(long Until, Exception? Failure)> ExpelAsync(IDecisionLeaseHolder holder)
    {
        try
        {
            return (await settings.Expulsions.ExpelAsync(holder).WaitAsync(settings.RevokeTimeout, settings.Time), null);
        }
        catch (Exception exception)
        {
            log.LeaseCallFailed(exception, "an edge that did not confirm a lease revocation could not be expelled");
            return (0, exception);
        }
    }

    private async Task<bool> ReachAsync(IDecisionLeaseHolder holder, Func<IDecisionLeaseHolder, Task> call)
    {
        if (settings.Unresponsive.Skip(holder))
        {
            return false;
        }

        try
        {
            var sentAt = settings.Time.GetTimestamp();
            var answer = call(holder);
            try
            {
                await answer.WaitAsync(settings.RevokeTimeout, settings.Time);
            }
            catch (TimeoutException) when (settings.Time.GetElapsedTime(sentAt) >= StalledAfter * settings.RevokeTimeout)
            {
                // The timeout fired late: this process did not run for much of it (a stall of the machine or the runtime,
                // a starved thread pool), and the holder's answer may be queued behind the timer. Before it is judged
                // (and a subject's holder expelled), it has one more timeout of this process's running time.
                await answer.WaitAsync(settings.RevokeTimeout, settings.Time);
            }

            settings.Unresponsive.Answered(holder);
            return true;
        }
        catch (Exception exception)
        {
            log.LeaseCallFailed(exception, "an edge did not confirm a lease revocation or update; relying on its expiry");
            settings.Unresponsive.Failed(holder);
            return false;
        }
    }

    /// <summary>
    /// A revocation whose timeout is observed this many timeouts after it was sent found its own process stalled, not
    /// the holder: it is given one more timeout. Otherwise a stall longer than the timeout could expel healthy edges,
    /// the embedded default's own in-process one included, and make the change wait for their registration to run out.
    /// </summary>
    public const int StalledAfter = 2;

    /// <summary>Completes once <paramref name="until"/> (a timestamp; 0: none) has passed.</summary>
    public Task SettleAsync(long until) => settings.Time.DelayUntilAsync(until);
}

/// <summary>
/// Where <see cref="LeaseGrants"/> reports a call that failed: the grain that owns it, which knows its own name
/// (an interface rather than a delegate: no closure object per activation).
/// </summary>
public interface ILeaseFailureLog
{
    void LeaseCallFailed(Exception exception, string what);
}

/// <summary>
/// What every <see cref="LeaseGrants"/> of a silo shares (the clock, how long a revocation call may take, the holder
/// registry, the holders that did not answer and those expelled): held once, not by each grain activation.
/// </summary>
public sealed record LeaseGrantSettings(
    TimeProvider Time, TimeSpan RevokeTimeout, RegisteredHolders Registered, UnresponsiveHolders Unresponsive, HolderExpulsions Expulsions);
