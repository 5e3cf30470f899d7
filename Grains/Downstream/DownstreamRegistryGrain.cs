using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using ShopAstro.Grains.Interfaces;

namespace ShopAstro.Grains.Downstream;

/// <summary>A store's downstream systems: kept in the consent store, each with its deliverer's reminder.</summary>
internal sealed class DownstreamRegistryGrain(
    IDownstreamStore store, IOptions<DownstreamOptions> options, TimeProvider time, ILogger<DownstreamRegistryGrain> logger)
    : Grain, IDownstreamRegistryGrain
{
    public async Task<DownstreamSystem?> Register(string url, string secret)
    {
        if (!options.Value.AllowPrivateNetworks && DownstreamAddresses.NamesPrivateAddress(new Uri(url)))
        {
            return null;
        }

        var storeId = this.GetPrimaryKeyString();
        var system = new DownstreamSystem(Guid.CreateVersion7().ToString("N"), url, time.GetUtcNow());
        // The reminder first: should the insert fail, its first tick finds no system and removes itself.
        await Deliverer(storeId, system.Id).Start();
        await store.AddSystemAsync(storeId, system, secret);
        return system;
    }

    public async Task<DownstreamSystem[]> List() => [.. await store.ListSystemsAsync(this.GetPrimaryKeyString())];

    public async Task<bool> Remove(string systemId)
    {
        var storeId = this.GetPrimaryKeyString();
        if (!await store.RemoveSystemAsync(storeId, systemId))
        {
            return false;
        }

        try
        {
            await Deliverer(storeId, systemId).Stop();
        }
        catch (Exception exception)
        {
            // The system is gone already; the reminder's next tick finds that and stops itself.
            logger.LogWarning(exception, "The deliverer of removed downstream system {StoreId}/{SystemId} could not be stopped", storeId, systemId);
        }

        return true;
    }

    public Task<DownstreamPropagation[]> Propagation() => store.PropagationAsync(this.GetPrimaryKeyString());

    private IDownstreamDeliveryGrain Deliverer(string storeId, string systemId) =>
        GrainFactory.GetGrain<IDownstreamDeliveryGrain>(DownstreamKeys.Of(storeId, systemId));
}
