using Microsoft.Extensions.DependencyInjection;
using ShopAstro.EdgeApi.Decisions;
using ShopAstro.Grains.Interfaces;
using ShopAstro.Tests.Infrastructure;

namespace ShopAstro.Tests.Consistency;

/// <summary>
/// The edge's side of an expulsion (docs/coherence.md, L3) through a real host: once the lease holder registry has
/// expelled the edge's holder reference, its next renewal is refused; it drops every lease and registers another
/// reference, which the registry confirms; the expelled one is refused for good.
/// </summary>
public sealed class ExpelledEdgeTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task An_expelled_edge_drops_its_leases_and_registers_again_as_another_holder()
    {
        await using var database = TestDatabase.Sqlite();
        await using var edge = new EdgeApiFactory(database.ConnectionString);
        var client = edge.ClientWith(EdgeApiFactory.AdminToken);
        var cache = edge.Services.GetRequiredService<DecisionCache>();
        var registry = edge.Services.GetRequiredService<IGrainFactory>().GetGrain<ILeaseHolderRegistryGrain>(0);
        var store = "expelled-" + Guid.NewGuid().ToString("N")[..8];
        await (await client.PublishPolicyAsync(store, 1)).ShouldBeOkAsync();
        await (await client.SetConsentAsync(store, "u1", "analytics", true)).ShouldBeOkAsync();
        await WaitUntil(() => Task.FromResult(cache.Active));
        Assert.Equal((true, "granted"), await client.DecideAsync(store, "u1", "analytics"));
        Assert.True(cache.Count > 0);

        var expelled = Assert.Single(await registry.GetHolders());
        Assert.True(await registry.Expel(expelled) > TimeSpan.Zero);

        // Within a registration period the edge is refused, and another reference of it is confirmed.
        await WaitUntil(async () => (await registry.GetHolders()).Any(holder => !holder.Equals(expelled)) && cache.Active);
        Assert.Equal(0, cache.Count);
        Assert.False(await registry.Register(expelled));

        // It answers from leases again, taken by the new reference.
        Assert.Equal((true, "granted"), await client.DecideAsync(store, "u1", "analytics"));
        Assert.True(cache.Count > 0);
    }

    private static async Task WaitUntil(Func<Task<bool>> condition)
    {
        var deadline = DateTime.UtcNow + Timeout;
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "timed out");
            await Task.Delay(50);
        }
    }
}
