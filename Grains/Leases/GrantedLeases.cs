using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using ShopAstro.Grains.Interfaces;

namespace ShopAstro.Grains.Leases;

/// <summary>
/// The decision leases one subject grain has handed to edge processes, and their revocation. A change is
/// acknowledged only after every holder confirmed the revocation, or (for a change that may turn an
/// allowed check into a denied one) after the lease of every holder that did not has run out. Leases
/// granted by an earlier activation of the grain are unknown to this one: until they must have run out,
/// a revocation goes to every edge in the registry.
/// </summary>
internal sealed partial class GrantedLeases(TimeProvider time, TimeSpan revokeTimeout, ILogger logger)
{
    /// <summary>
    /// Edges that recently failed to confirm a revocation, per silo: not called again for a while, so that
    /// an edge that died costs each later change nothing (a restrictive one still waits for its leases).
    /// </summary>
    private static readonly ConcurrentDictionary<GrainId, long> Unresponsive = new();

    private static readonly TimeSpan UnresponsiveFor = TimeSpan.FromSeconds(3);

    private (IDecisionLeaseHolder Holder, long ExpiresAt)[] _holders = [];
    private long _unknownUntil;

    /// <summary>A new activation: leases of the previous one run until at most <paramref name="lease"/> from now.</summary>
    public void Activated(TimeSpan lease) => _unknownUntil = time.GetTimestamp() + Ticks(lease);

    /// <summary>Whether a lease handed out by this activation or an earlier one may still be used.</summary>
    public bool AnyLive
    {
        get
        {
            var now = time.GetTimestamp();
            return _unknownUntil > now || _holders.Any(h => h.ExpiresAt > now);
        }
    }

    public void Grant(IDecisionLeaseHolder holder, long expiresAt)
    {
        var id = holder.GetGrainId();
        for (var i = 0; i < _holders.Length; i++)
        {
            if (_holders[i].Holder.GetGrainId() == id)
            {
                _holders[i].ExpiresAt = Math.Max(_holders[i].ExpiresAt, expiresAt);
                return;
            }
        }

        _holders = [.. _holders, (holder, expiresAt)];
    }

    /// <summary>
    /// Revokes every lease that may still run. Returns until when a holder that could not be reached may
    /// still use one (0: none): a change that may deny what was allowed is acknowledged only after that
    /// (<see cref="SettleAsync"/>).
    /// </summary>
    public async Task<long> RevokeAsync(IGrainFactory grains, string storeId, string subjectId)
    {
        var now = time.GetTimestamp();
        var targets = new List<(IDecisionLeaseHolder Holder, long ExpiresAt)>(_holders.Length);
        foreach (var holder in _holders)
        {
            if (holder.ExpiresAt > now)
            {
                targets.Add(holder);
            }
        }

        var waitUntil = 0L;
        if (_unknownUntil > now)
        {
            try
            {
                var registered = await grains.GetGrain<ILeaseHolderRegistryGrain>(0).GetHolders().WaitAsync(revokeTimeout, time);
                foreach (var holder in registered)
                {
                    if (!targets.Exists(t => t.Holder.GetGrainId() == holder.GetGrainId()))
                    {
                        targets.Add((holder, _unknownUntil));
                    }
                }
            }
            catch (Exception exception)
            {
                LogRegistryUnavailable(exception, storeId, subjectId);
                waitUntil = _unknownUntil;
            }
        }

        var unknownReached = waitUntil == 0;
        var stillHeld = new List<(IDecisionLeaseHolder Holder, long ExpiresAt)>();
        if (targets.Count > 0)
        {
            var reached = await Task.WhenAll(targets.Select(async target =>
            {
                var id = target.Holder.GetGrainId();
                if (Unresponsive.TryGetValue(id, out var until) && time.GetTimestamp() < until)
                {
                    return false;
                }

                try
                {
                    await target.Holder.Revoke(storeId, subjectId).WaitAsync(revokeTimeout, time);
                    Unresponsive.TryRemove(id, out _);
                    return true;
                }
                catch (Exception exception)
                {
                    LogRevokeFailed(exception, storeId, subjectId);
                    Unresponsive[id] = time.GetTimestamp() + Ticks(UnresponsiveFor);
                    return false;
                }
            }));
            for (var i = 0; i < targets.Count; i++)
            {
                if (!reached[i])
                {
                    // Still usable by that edge until it runs out: a later change must wait for it too.
                    stillHeld.Add(targets[i]);
                    waitUntil = Math.Max(waitUntil, targets[i].ExpiresAt);
                    unknownReached &= targets[i].ExpiresAt != _unknownUntil;
                }
            }
        }

        _holders = [.. stillHeld];
        if (unknownReached)
        {
            // Every edge the registry knows confirmed: no lease of an earlier activation is left.
            _unknownUntil = 0;
        }

        return waitUntil;
    }

    /// <summary>Completes once no lease that <see cref="RevokeAsync"/> could not revoke can be used any more.</summary>
    public Task SettleAsync(long unrevokedUntil)
    {
        var now = time.GetTimestamp();
        return now < unrevokedUntil ? Task.Delay(time.GetElapsedTime(now, unrevokedUntil), time) : Task.CompletedTask;
    }

    private long Ticks(TimeSpan span) => (long)(span.TotalSeconds * time.TimestampFrequency);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Subject {StoreId}/{SubjectId}: an edge did not confirm a lease revocation; relying on its expiry")]
    private partial void LogRevokeFailed(Exception exception, string storeId, string subjectId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Subject {StoreId}/{SubjectId}: the lease holder registry did not answer; relying on lease expiry")]
    private partial void LogRegistryUnavailable(Exception exception, string storeId, string subjectId);
}
