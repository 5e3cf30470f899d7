using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json.Nodes;
using ShopAstro.Tests.Infrastructure;
using Xunit.Abstractions;

namespace ShopAstro.Tests.Consistency;

/// <summary>
/// policy-rules: a withdrawal takes effect for every check that starts after it was acknowledged. Checkers
/// hammer one subject while a writer alternates grant and withdraw; no check that started after a
/// withdrawal's 200 (and before the next grant was sent) may answer allowed.
/// </summary>
public sealed class RevocationTests(SqliteEdgeFixture fixture, ITestOutputHelper output) : IClassFixture<SqliteEdgeFixture>
{
    private const int Checkers = 16;
    private const int Toggles = 200;
    private const int MaxUnacknowledged = 5;

    private sealed record Check(long StartedAt, long EndedAt, bool Allowed);

    [Fact]
    public async Task No_allow_is_served_after_a_withdrawal_is_acknowledged()
    {
        var store = "rev-" + Guid.NewGuid().ToString("N")[..8];
        var client = fixture.Factory.ClientWith(EdgeApiFactory.AdminToken);
        await (await client.PublishPolicyAsync(store, 1)).ShouldBeOkAsync();

        var writes = new List<AcknowledgedWrite>();
        var checks = new ConcurrentBag<Check>();
        using var stop = new CancellationTokenSource();

        var checkers = Enumerable.Range(0, Checkers).Select(_ => Task.Run(async () =>
        {
            var checker = fixture.Factory.ClientWith(EdgeApiFactory.AdminToken);
            while (!stop.IsCancelled())
            {
                var startedAt = Stopwatch.GetTimestamp();
                using var response = await checker.GetAsync($"/v1/stores/{store}/subjects/u1/decisions?purpose=analytics");
                await response.ShouldBeOkAsync();
                var allowed = JsonNode.Parse(await response.Content.ReadAsStringAsync())!["decisions"]![0]!["allowed"]!.GetValue<bool>();
                checks.Add(new Check(startedAt, Stopwatch.GetTimestamp(), allowed));
            }
        })).ToArray();

        var unacknowledged = new List<string>();
        for (var i = 0; i < Toggles; i++)
        {
            var granted = i % 2 == 0;
            var sentAt = Stopwatch.GetTimestamp();
            await WriteUntilAcknowledgedAsync(client, store, granted, i, unacknowledged);
            writes.Add(new AcknowledgedWrite(granted, sentAt, Stopwatch.GetTimestamp()));
            if (!granted)
            {
                // Leave the checkers a window in which only the acknowledged withdrawal is in effect.
                await Task.Delay(3);
            }
        }

        await stop.CancelAsync();
        await Task.WhenAll(checkers);

        var violations = checks.Where(check => check.Allowed && WithdrawalWindow.MustBeDenied(check.StartedAt, check.EndedAt, writes)).ToList();
        var mustBeDenied = checks.Count(check => WithdrawalWindow.MustBeDenied(check.StartedAt, check.EndedAt, writes));
        output.WriteLine($"{checks.Count} checks, {mustBeDenied} ran entirely while only an acknowledged withdrawal was in effect, {violations.Count} violations; " +
            $"{unacknowledged.Count} writes answered 503 and were sent again{(unacknowledged.Count == 0 ? "" : ": " + string.Join("; ", unacknowledged))}");
        Assert.True(mustBeDenied > Toggles / 4, $"the test must exercise the window it guards ({mustBeDenied} checks did)");
        Assert.Empty(violations);
        Assert.True(unacknowledged.Count <= MaxUnacknowledged, $"{unacknowledged.Count} of {Toggles} writes answered 503: {string.Join("; ", unacknowledged)}");
    }

    /// <summary>
    /// A write answered 503 is not acknowledged, and may or may not have been stored: it is sent again after its Retry-After, as a
    /// client would, and counts from its first send (a grant in flight may be seen from then on; a withdrawal binds only once
    /// acknowledged). In one CI run of the full suite on two cores, one write of 200 answered 503: its call expired before
    /// the subject grain ran it. A few such writes are tolerated; more, or any other answer, fails the test.
    /// </summary>
    private static async Task WriteUntilAcknowledgedAsync(HttpClient client, string store, bool granted, int index, List<string> unacknowledged)
    {
        while (true)
        {
            using var response = await client.SetConsentAsync(store, "u1", "analytics", granted);
            if (response.StatusCode != System.Net.HttpStatusCode.ServiceUnavailable || unacknowledged.Count >= MaxUnacknowledged)
            {
                await response.ShouldBeOkAsync();
                return;
            }

            unacknowledged.Add($"write {index} ({(granted ? "grant" : "withdrawal")}): {await response.Content.ReadAsStringAsync()}");
            await Task.Delay(response.Headers.RetryAfter?.Delta ?? TimeSpan.FromSeconds(1));
        }
    }
}

internal static class CancellationExtensions
{
    public static bool IsCancelled(this CancellationTokenSource source) => source.IsCancellationRequested;
}
