using Microsoft.Extensions.DependencyInjection;
using Orleans.Runtime;
using ShopAstro.Grains.Interfaces;
using ShopAstro.Tests.Infrastructure;

namespace ShopAstro.Tests.Unit;

/// <summary>References made by <see cref="GrainReferences.Of{TGrainInterface}"/> are the ones Orleans makes: same grain, same interface.</summary>
public sealed class GrainReferencesTests(SqliteEdgeFixture fixture) : IClassFixture<SqliteEdgeFixture>
{
    [Fact]
    public async Task A_reference_from_its_grain_id_is_the_reference_orleans_makes_and_reaches_the_same_activation()
    {
        var grains = fixture.Factory.Services.GetRequiredService<IGrainFactory>();
        foreach (var key in new[] { "refs-a", "refs-b", "refs-a" })
        {
            Same(grains.GetGrain<IStoreGrain>(key), grains.Of<IStoreGrain>(key));
            Same(grains.GetGrain<IStoreFeedGrain>(key), grains.Of<IStoreFeedGrain>(key));
            Same(grains.GetGrain<ISubjectGrain>(SubjectKey.Of(key, "u1")), grains.Of<ISubjectGrain>(SubjectKey.Of(key, "u1")));
        }

        // The store grain and its feed share a key but are different grains.
        Assert.NotEqual(((GrainReference)(object)grains.Of<IStoreGrain>("refs-a")).GrainId, ((GrainReference)(object)grains.Of<IStoreFeedGrain>("refs-a")).GrainId);
        var published = await grains.Of<IStoreGrain>("refs-c").PublishPolicy(new PolicyUpdate(1, StoreStatus.Active, false,
            System.Collections.Immutable.ImmutableDictionary<Purpose, PurposeSetting>.Empty.Add(Purpose.Analytics, new PurposeSetting(true, false))));
        Assert.Equal(PolicyPublishStatus.Published, published.Status);
        Assert.Equal(1, (await grains.GetGrain<IStoreGrain>("refs-c").GetPolicyView()).Current?.Version);
    }

    private static void Same<T>(T expected, T actual)
    {
        var (e, a) = ((GrainReference)(object)expected!, (GrainReference)(object)actual!);
        Assert.Equal(e.GrainId, a.GrainId);
        Assert.Equal(e.InterfaceType, a.InterfaceType);
        Assert.IsAssignableFrom<T>(actual);
    }
}
