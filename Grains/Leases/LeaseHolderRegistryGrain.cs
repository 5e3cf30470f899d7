using ShopAstro.Grains.Interfaces;

namespace ShopAstro.Grains.Leases;

[GenerateSerializer, Alias("shopastro.LeaseHolderRegistryState")]
public sealed class LeaseHolderRegistryState
{
    [Id(0)] public List<IDecisionLeaseHolder> Holders { get; set; } = [];
}

/// <summary>
/// The edge processes that may hold decision leases. Renewals live in memory; the set of edges is stored,
/// written before a new edge's registration is confirmed, so that an activation after a silo failure still
/// names every edge that may hold a lease (each counts as renewed at activation until it renews or expires).
/// </summary>
internal sealed class LeaseHolderRegistryGrain(
    [PersistentState("leaseholders", StorageNames.Consent)] IPersistentState<LeaseHolderRegistryState> state,
    TimeProvider time) : Grain, ILeaseHolderRegistryGrain
{
    private readonly Dictionary<GrainId, (IDecisionLeaseHolder Holder, long RenewedAt)> _holders = [];

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        var now = time.GetTimestamp();
        foreach (var holder in state.State.Holders)
        {
            _holders[holder.GetGrainId()] = (holder, now);
        }

        return Task.CompletedTask;
    }

    public async Task Register(IDecisionLeaseHolder holder)
    {
        var known = _holders.ContainsKey(holder.GetGrainId());
        _holders[holder.GetGrainId()] = (holder, time.GetTimestamp());
        if (!known)
        {
            await SaveAsync();
        }
    }

    public async Task Unregister(IDecisionLeaseHolder holder)
    {
        if (_holders.Remove(holder.GetGrainId()))
        {
            await SaveAsync();
        }
    }

    public Task<IDecisionLeaseHolder[]> GetHolders()
    {
        // An edge that could not renew has stopped using its leases by now (it counts from before it sent).
        var live = Live();
        return Task.FromResult(live.Select(h => h.Holder).ToArray());
    }

    private List<(IDecisionLeaseHolder Holder, long RenewedAt)> Live()
    {
        var oldest = time.GetTimestamp() - time.TimestampTicks(ILeaseHolderRegistryGrain.Expiry);
        return _holders.Values.Where(h => h.RenewedAt > oldest).ToList();
    }

    /// <summary>Stores the live edges; expired ones are dropped from storage with the next change.</summary>
    private Task SaveAsync() =>
        state.PersistAsync(new LeaseHolderRegistryState { Holders = Live().Select(h => h.Holder).ToList() }, this, "lease holder registry");
}
