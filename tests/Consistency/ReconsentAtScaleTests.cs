using System.Collections.Immutable;
using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using ShopAstro.Grains.Interfaces;
using ShopAstro.Tests.Infrastructure;
using Xunit.Abstractions;

namespace ShopAstro.Tests.Consistency;

/// <summary>
/// A material change of a purpose reaches every active subject of the store before the publish is
/// acknowledged, without a storage access per check.
/// </summary>
public sealed class ReconsentAtScaleTests(SqliteEdgeFixture fixture, ITestOutputHelper output) : IClassFixture<SqliteEdgeFixture>
{
    private const int Subjects = 10_000;

    [Fact]
    public async Task A_material_change_reaches_all_10000_active_subjects_on_their_next_check()
    {
        var store = "scale-" + Guid.NewGuid().ToString("N")[..8];
        var client = fixture.Factory.ClientWith(EdgeApiFactory.AdminToken);
        var grains = fixture.Factory.Services.GetRequiredService<IGrainFactory>();
        await (await client.PublishPolicyAsync(store, 1)).ShouldBeOkAsync();

        var grant = new ConsentUpdate(
            ImmutableDictionary<Purpose, bool>.Empty.Add(Purpose.Recommendation, true), 1, ConsentSource.Banner, RequestSignals.None);
        var writes = Stopwatch.StartNew();
        foreach (var chunk in Enumerable.Range(0, Subjects).Chunk(500))
        {
            await Task.WhenAll(chunk.Select(i => grains.GetGrain<ISubjectGrain>(SubjectKey.Of(store, $"u{i}")).SetConsents(grant)));
        }

        output.WriteLine($"{Subjects} durable grants in {writes.ElapsedMilliseconds} ms");
        var before = await BatchCheck(client, store);
        Assert.All(before, reason => Assert.Equal("granted", reason));

        var publish = Stopwatch.StartNew();
        await (await client.PublishPolicyAsync(store, 2, """{"recommendation":{"enabled":true,"materialChange":true}}""")).ShouldBeOkAsync();
        publish.Stop();
        output.WriteLine($"material change published to {Subjects} active subjects in {publish.ElapsedMilliseconds} ms");

        var after = await BatchCheck(client, store);
        Assert.Equal(Subjects, after.Count);
        Assert.All(after, reason => Assert.Equal("reconsent_required", reason));
    }

    private static async Task<List<string>> BatchCheck(HttpClient client, string store)
    {
        var items = string.Join(',', Enumerable.Range(0, Subjects).Select(i => $$"""{"subjectId":"u{{i}}","purpose":"recommendation"}"""));
        var response = await client.PostAsync($"/v1/stores/{store}/decisions/batch", ConsentApi.Json($$"""{"items":[{{items}}]}"""));
        await response.ShouldBeOkAsync();
        return (await response.ReadJsonAsync())["results"]!.AsArray().Select(r => r!["reason"]!.GetValue<string>()).ToList();
    }
}
