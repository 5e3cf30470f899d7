using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using ShopAstro.Grains.Interfaces;

namespace ShopAstro.Grains.Leases;

/// <summary>
/// The leases one grain has handed to edge processes (a subject's decision leases, a store's absence leases),
/// and the calls that revoke or update them. A change is acknowledged only after every holder confirmed, or
/// (for a change that may turn an allowed check into a denied one) after the lease of every holder that did
/// not has run out. Leases granted by an earlier activation of the grain are unknown to this one: until they
/// must have run out, the call goes to every edge in the registry. Grants may interleave with a call that is
/// waiting for the edges: a lease granted meanwhile carries the new state and is kept.
/// </summary>
internal sealed partial class GrantedLeases(TimeProvider time, TimeSpan revokeTimeout, ILogger logger)
{
    /// <summary>
    /// Edges that recently failed to confirm, per silo: not called again for a while, so that an edge that died
    /// costs each later change nothing (a restrictive one still waits for its leases).
    /// </summary>
    private static readonly ConcurrentDictionary<GrainId, long> Unresponsive = new();

    private static readonly TimeSpan UnresponsiveFor = TimeSpan.FromSeconds(3);

    private (IDecisionLeaseHolder Holder, long ExpiresAt, long GrantedAt)[] _holders = [];
    private long _unknownUntil;

    /// <summary>A new activation: leases of the previous one run until at most <paramref name="lease"/> from now.</summary>
    public void Activated(TimeSpan lease) => _unknownUntil = time.GetTimestamp() + time.TimestampTicks(lease);

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
        var now = time.GetTimestamp();
        for (var i = 0; i < _holders.Length; i++)
        {
            if (_holders[i].Holder.GetGrainId() == id)
            {
                _holders[i] = (_holders[i].Holder, Math.Max(_holders[i].ExpiresAt, expiresAt), now);
                return;
            }
        }

        _holders = [.. _holders, (holder, expiresAt, now)];
    }

    /// <summary>
    /// Revokes every lease that may still run. Returns until when a holder that could not be reached may
    /// still use one (0: none): a change that may deny what was allowed is acknowledged only after that
    /// (<see cref="SettleAsync"/>).
    /// </summary>
    public Task<long> RevokeAsync(IGrainFactory grains, string storeId, string subjectId) =>
        CallAsync(grains, holder => holder.Revoke(storeId, subjectId), keepLeases: false, storeId, subjectId);

    /// <summary>
    /// Calls every holder whose lease may still run (and, within a lease period of activation, every registered
    /// edge). With <paramref name="keepLeases"/> the leases stay (the call updated them); otherwise only those
    /// of holders that could not be reached are remembered, with the leases granted while the call was out.
    /// Returns until when a holder that could not be reached may still use an outdated lease (0: none).
    /// </summary>
    public async Task<long> CallAsync(
        IGrainFactory grains, Func<IDecisionLeaseHolder, Task> call, bool keepLeases, string storeId, string subjectId)
    {
        var startedAt = time.GetTimestamp();
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
                var registered = await grains.GetGrain<ILeaseHolderRegistryGrain>(0).GetHolders().WaitAsync(revokeTimeout, time);
                foreach (var holder in registered)
                {
                    if (!targets.Exists(t => t.Holder.GetGrainId() == holder.GetGrainId()))
                    {
                        targets.Add((holder, unknownUntil));
                    }
                }
            }
            catch (Exception exception)
            {
                LogRegistryUnavailable(exception, storeId, subjectId);
                waitUntil = unknownUntil;
            }
        }

        var reached = await Task.WhenAll(targets.Select(async target =>
        {
            var id = target.Holder.GetGrainId();
            if (Unresponsive.TryGetValue(id, out var until) && time.GetTimestamp() < until)
            {
                return false;
            }

            try
            {
                await call(target.Holder).WaitAsync(revokeTimeout, time);
                Unresponsive.TryRemove(id, out _);
                return true;
            }
            catch (Exception exception)
            {
                LogCallFailed(exception, storeId, subjectId);
                Unresponsive[id] = time.GetTimestamp() + time.TimestampTicks(UnresponsiveFor);
                return false;
            }
        }));

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
                if (!kept.Exists(k => k.Holder.GetGrainId() == holder.GetGrainId()))
                {
                    kept.Add((holder, expiresAt, startedAt));
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

    /// <summary>Completes once no lease that <see cref="CallAsync"/> could not reach can be used any more.</summary>
    public Task SettleAsync(long unreachedUntil)
    {
        var now = time.GetTimestamp();
        return now < unreachedUntil ? Task.Delay(time.GetElapsedTime(now, unreachedUntil), time) : Task.CompletedTask;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "{StoreId}/{SubjectId}: an edge did not confirm a lease revocation or update; relying on its expiry")]
    private partial void LogCallFailed(Exception exception, string storeId, string subjectId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{StoreId}/{SubjectId}: the lease holder registry did not answer; relying on lease expiry")]
    private partial void LogRegistryUnavailable(Exception exception, string storeId, string subjectId);
}

/// <summary>The subjects of a store that have a stored record, read from the consent store (a store grain's index at activation).</summary>
public interface ISubjectIndexSource
{
    Task<IReadOnlyList<string>> SubjectsWithRecordsAsync(string storeId, CancellationToken cancellationToken);
}
