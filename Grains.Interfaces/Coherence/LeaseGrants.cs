using ShopAstro.Grains.Interfaces;

namespace ShopAstro.Coherence;

/// <summary>
/// Grant side of the lease protocol, one per grain activation: the leases it handed to edge processes (a
/// subject's decision leases, a store's absence leases) and the calls that revoke or update them.
/// <para>
/// Guarantees to its owner: after <see cref="CallAsync"/> returns <c>t</c>, no holder can use a lease older
/// than the call except until <c>t</c> (0: none). Leases granted by an earlier activation (on a silo that may
/// have died, or a duplicate) are unknown to this one: until they must have run out
/// (<see cref="PreviousActivationMayHold"/>), calls go to every edge in the registry, and an edge the
/// registry could not name counts as unreached.
/// </para>
/// Grants may interleave with a call that is out: a lease granted meanwhile carries the new state and is kept.
/// </summary>
public sealed class LeaseGrants(LeaseGrantSettings settings, ILeaseFailureLog log)
{
    private (IDecisionLeaseHolder Holder, long ExpiresAt, long GrantedAt)[] _holders = [];
    private long _unknownUntil;
    private long _activatedAt;

    /// <summary>A new activation: leases of the previous one run until at most <paramref name="lease"/> from now.</summary>
    public void Activated(TimeSpan lease)
    {
        _activatedAt = settings.Time.GetTimestamp();
        _unknownUntil = _activatedAt + settings.Time.TimestampTicks(lease);
    }

    /// <summary>Whether an earlier activation's leases, of a state this one may never have seen, may still be used.</summary>
    public bool PreviousActivationMayHold => _unknownUntil > settings.Time.GetTimestamp();

    /// <summary>Whether a lease handed out by this activation or an earlier one may still be used.</summary>
    public bool AnyLive
    {
        get
        {
            var now = settings.Time.GetTimestamp();
            return _unknownUntil > now || _holders.Any(h => h.ExpiresAt > now);
        }
    }

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
            catch (Exception exception)
            {
                log.LeaseCallFailed(exception, "the lease holder registry did not answer; relying on lease expiry");
                waitUntil = unknownUntil;
            }
        }

        var reached = await Task.WhenAll(targets.Select(target => ReachAsync(target.Holder, call)));

        var unknownReached = waitUntil == 0;
        var unreached = new List<(IDecisionLeaseHolder Holder, long ExpiresAt)>();
        for (var i = 0; i < targets.Count; i++)
        {
            if (!reached[i])
            {
                // Still usable by that edge until it runs out: a later change must reach it or wait for it too.
                unreached.Add(targets[i]);
                waitUntil = Math.Max(waitUntil, targets[i].ExpiresAt);
                unknownReached &= i < unknownFrom;
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

        return waitUntil;
    }

    private async Task<bool> ReachAsync(IDecisionLeaseHolder holder, Func<IDecisionLeaseHolder, Task> call)
    {
        if (settings.Unresponsive.Skip(holder))
        {
            return false;
        }

        try
        {
            await call(holder).WaitAsync(settings.RevokeTimeout, settings.Time);
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
/// registry and the holders that did not answer): held once, not by each grain activation.
/// </summary>
public sealed record LeaseGrantSettings(TimeProvider Time, TimeSpan RevokeTimeout, RegisteredHolders Registered, UnresponsiveHolders Unresponsive);
