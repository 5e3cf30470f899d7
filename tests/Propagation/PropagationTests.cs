using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using ShopAstro.EdgeApi.OpenApi;
using ShopAstro.Grains.Downstream;
using ShopAstro.Tests.Infrastructure;
using ShopAstro.Tests.OpenApi;
using Xunit.Abstractions;

namespace ShopAstro.Tests.Propagation;

/// <summary>
/// Downstream propagation through the HTTP contract, against real HTTP receivers on loopback Kestrel ports that verify
/// every signature: which changes make events, delivery through failures and stalls, the give-up horizon, what the
/// outbox keeps, and GET .../propagation.
/// </summary>
public abstract class PropagationTests(PropagationFixture fixture, ITestOutputHelper output)
{
    private static readonly TimeSpan Within = TimeSpan.FromSeconds(30);

    protected readonly HttpClient Admin = fixture.Factory.ClientWith(EdgeApiFactory.AdminToken);

    [Fact]
    public async Task Every_withdrawal_deletion_cancellation_and_minor_flag_is_delivered_signed_and_nothing_else()
    {
        var store = Unique("kinds");
        await using var receiver = await WebhookReceiver.StartAsync();
        await (await Admin.PublishPolicyAsync(store, 1)).ShouldBeOkAsync();
        await RegisterAsync(store, receiver);

        // No event: grants, a repeated withdrawal, a minor flag lifted, a deletion of a subject never written.
        await (await Admin.SetConsentAsync(store, "u1", "analytics", true)).ShouldBeOkAsync();
        await (await Admin.SetConsentAsync(store, "u1", "recommendation", true)).ShouldBeOkAsync();
        // Withdrawal of one purpose, then of two at once (one event naming both).
        await (await Admin.SetConsentAsync(store, "u1", "analytics", false)).ShouldBeOkAsync();
        await (await Admin.SetConsentAsync(store, "u1", "analytics", false)).ShouldBeOkAsync();
        await (await Admin.PutAsync($"/v1/stores/{store}/subjects/u1/consents", ConsentApi.Json(
            """{"purposes":{"recommendation":false,"advertising":false},"policyVersion":1,"source":"account_settings"}"""))).ShouldBeOkAsync();
        await (await Admin.DeleteAsync($"/v1/stores/{store}/subjects/never-written")).ShouldBeOkAsync(HttpStatusCode.NoContent);
        // Deletion, cancellation, minor flag (set, lifted, set again), a link that makes an account a minor's.
        await (await Admin.SetConsentAsync(store, "u2", "analytics", true)).ShouldBeOkAsync();
        await (await Admin.DeleteAsync($"/v1/stores/{store}/subjects/u2")).ShouldBeOkAsync(HttpStatusCode.NoContent);
        await (await Admin.PostAsync($"/v1/stores/{store}/subjects/u3/cancel", null)).ShouldBeOkAsync(HttpStatusCode.NoContent);
        await (await Admin.PutAsync($"/v1/stores/{store}/subjects/u4/age", ConsentApi.Json("""{"minor":true}"""))).ShouldBeOkAsync(HttpStatusCode.NoContent);
        await (await Admin.PutAsync($"/v1/stores/{store}/subjects/u4/age", ConsentApi.Json("""{"minor":false}"""))).ShouldBeOkAsync(HttpStatusCode.NoContent);
        await (await Admin.PutAsync($"/v1/stores/{store}/subjects/anon:v5/age", ConsentApi.Json("""{"minor":true}"""))).ShouldBeOkAsync(HttpStatusCode.NoContent);
        await (await Admin.SetConsentAsync(store, "u5", "analytics", true)).ShouldBeOkAsync();
        await (await Admin.PostAsync($"/v1/stores/{store}/subjects/u5/link", ConsentApi.Json("""{"anonymousId":"anon:v5"}"""))).ShouldBeOkAsync();
        // A completed deletion request erases through the same subject grain.
        await (await Admin.SetConsentAsync(store, "u6", "analytics", true)).ShouldBeOkAsync();
        var receivedAt = DateTime.UtcNow.ToString("O");
        using var registered = await Admin.PostAsync($"/v1/stores/{store}/requests", ConsentApi.Json(
            "{\"subjectId\":\"u6\",\"type\":\"deletion\",\"receivedAt\":\"" + receivedAt + "\",\"identityVerification\":{\"method\":\"sms_code\"}}"));
        await registered.ShouldBeOkAsync(HttpStatusCode.Created);
        var requestId = (await registered.ReadJsonAsync())["id"]!.GetValue<string>();
        await (await Admin.PostAsync($"/v1/stores/{store}/requests/{requestId}/complete", null)).ShouldBeOkAsync();

        string[] expected =
        [
            "withdrawal u1 analytics", "withdrawal u1 advertising,recommendation", "deletion u2", "cancellation u3", "minor u4",
            "minor anon:v5", "minor u5", "deletion u6",
        ];
        var received = await receiver.WaitForAsync(r => r.Count >= expected.Length, Within);
        await Task.Delay(500);
        received = receiver.Accepted;
        Assert.Equal(expected, received.Select(Describe));
        Assert.Equal(0, receiver.BadSignatures);
        foreach (var delivery in received)
        {
            var body = delivery.Body.AsObject();
            Assert.Equal(store, body["storeId"]!.GetValue<string>());
            Assert.Equal(delivery.EventId, body["id"]!.GetValue<string>());
            Assert.True(DateTime.UtcNow - body["at"]!.GetValue<DateTime>() < TimeSpan.FromMinutes(1), body.ToJsonString());
            Assert.Equal(body["type"]!.GetValue<string>() == "withdrawal", body.ContainsKey("purposes"));
        }

        // Each body as the OpenAPI document's webhook describes it (closed objects: nothing sent that it does not name),
        // and the headers it names are the ones the receiver verified the signature with.
        var document = await Admin.GetFromJsonAsync<JsonNode>("/openapi/v1.json");
        var webhook = document!["webhooks"]![DownstreamWebhook.Name]!["post"]!;
        var schema = webhook["requestBody"]!["content"]!["application/json"]!["schema"]!;
        var documented = new DocumentedResponses(document);
        foreach (var delivery in received)
        {
            Assert.Empty(documented.Validate(schema, delivery.Body.ToJsonString()));
        }

        Assert.Equal(
            [WebhookSignature.EventIdHeader, WebhookSignature.TimestampHeader, WebhookSignature.SignatureHeader],
            webhook["parameters"]!.AsArray().Select(p => p!["name"]!.GetValue<string>()));

        var propagation = await PropagationAsync(store);
        Assert.Equal(expected.Length, propagation["delivered"]!.GetValue<long>());
        Assert.Equal(0, propagation["pending"]!.GetValue<long>());
        Assert.Equal(0, propagation["failed"]!.GetValue<long>());
        Assert.Null(propagation["oldestPendingAgeSeconds"]);
        Assert.Equal(expected.Length, propagation["latency"]!["count"]!.GetValue<int>());
    }

    [Fact]
    public async Task A_receiver_that_fails_then_stalls_gets_every_event_in_order_once_it_recovers()
    {
        var store = Unique("flaky");
        await using var receiver = await WebhookReceiver.StartAsync();
        await (await Admin.PublishPolicyAsync(store, 1)).ShouldBeOkAsync();
        var systemId = await RegisterAsync(store, receiver);

        receiver.Answer = WebhookReceiver.Mode.Fail;
        for (var i = 0; i < 3; i++)
        {
            await (await Admin.SetConsentAsync(store, $"f{i}", "analytics", false)).ShouldBeOkAsync();
        }

        // Failing: the head event is retried, nothing is acknowledged, the pending age grows.
        await WaitUntilAsync(() => receiver.Attempts >= 3, "three failed attempts");
        var failing = await PropagationAsync(store);
        Assert.Equal(3, failing["pending"]!.GetValue<long>());
        Assert.Equal(0, failing["delivered"]!.GetValue<long>());
        Assert.True(failing["oldestPendingAgeSeconds"]!.GetValue<double>() > 0);

        // Stalling past the 1 s delivery timeout: still not acknowledged, and the sender moves on to retry.
        receiver.Answer = WebhookReceiver.Mode.Stall;
        var attemptsBefore = receiver.Attempts;
        for (var i = 3; i < 5; i++)
        {
            await (await Admin.SetConsentAsync(store, $"f{i}", "analytics", false)).ShouldBeOkAsync();
        }

        await WaitUntilAsync(() => receiver.Attempts >= attemptsBefore + 2, "two stalled attempts");
        Assert.Equal(5, (await PropagationAsync(store))["pending"]!.GetValue<long>());
        Assert.Empty(receiver.Accepted);

        receiver.Answer = WebhookReceiver.Mode.Acknowledge;
        var received = await receiver.WaitForAsync(r => r.Count >= 5, Within);
        Assert.Equal(["f0", "f1", "f2", "f3", "f4"], received.Select(r => r.Body["subjectId"]!.GetValue<string>()).Take(5));
        Assert.True(received[0].Attempt > 1, "the first event was retried");
        await WaitUntilAsync(async () => (await PropagationAsync(store))["delivered"]!.GetValue<long>() == 5, "five delivered");
        var recovered = await PropagationAsync(store);
        Assert.Equal(0, recovered["pending"]!.GetValue<long>());
        Assert.Equal(systemId, recovered["id"]!.GetValue<string>());
        Assert.True(recovered["latency"]!["p99Ms"]!.GetValue<double>() >= recovered["latency"]!["p50Ms"]!.GetValue<double>());
    }

    [Fact]
    public async Task Acknowledged_rows_keep_no_subject_id_and_a_removed_system_takes_its_rows_with_it()
    {
        var store = Unique("minimise");
        await using var receiver = await WebhookReceiver.StartAsync();
        await using var silent = await WebhookReceiver.StartAsync("silent-receiver-secret-0123");
        silent.Answer = WebhookReceiver.Mode.Fail;
        await (await Admin.PublishPolicyAsync(store, 1)).ShouldBeOkAsync();
        await RegisterAsync(store, receiver);
        var silentId = await RegisterAsync(store, silent);

        await (await Admin.SetConsentAsync(store, "m-subject-1", "analytics", false)).ShouldBeOkAsync();
        await receiver.WaitForAsync(r => r.Count == 1, Within);
        await WaitUntilAsync(async () => (await OutboxAsync(store, "SubjectId IS NOT NULL")).Count == 1, "only the failing system's row named the subject");
        Assert.Single(await OutboxAsync(store, "SubjectId IS NULL AND Body IS NULL AND AckedAt IS NOT NULL"));

        await (await Admin.DeleteAsync($"/v1/stores/{store}/downstream/{silentId}")).ShouldBeOkAsync(HttpStatusCode.NoContent);
        Assert.Empty(await OutboxAsync(store, "SubjectId IS NOT NULL"));
        Assert.Empty(await OutboxAsync(store, "Body LIKE '%m-subject-1%'"));
        var attempts = silent.Attempts;
        await (await Admin.SetConsentAsync(store, "m-subject-2", "analytics", false)).ShouldBeOkAsync();
        await receiver.WaitForAsync(r => r.Count == 2, Within);
        await Task.Delay(500);
        Assert.Equal(attempts, silent.Attempts);
        var systems = (await (await Admin.GetAsync($"/v1/stores/{store}/propagation")).ReadJsonAsync())["systems"]!.AsArray();
        Assert.Single(systems);
    }

    [Fact]
    public async Task Propagation_latency_on_a_healthy_receiver()
    {
        const int Events = 50;
        const int Cold = 4;
        var store = Unique("latency");
        await using var receiver = await WebhookReceiver.StartAsync();
        await (await Admin.PublishPolicyAsync(store, 1)).ShouldBeOkAsync();
        await RegisterAsync(store, receiver);
        for (var i = 0; i < Events; i++)
        {
            await (await Admin.SetConsentAsync(store, $"l{i}", "analytics", true)).ShouldBeOkAsync();
        }

        var acknowledgedAt = new Dictionary<string, (long Sent, long Acknowledged)>();
        for (var i = 0; i < Events; i++)
        {
            var sent = Stopwatch.GetTimestamp();
            await (await Admin.SetConsentAsync(store, $"l{i}", "analytics", false)).ShouldBeOkAsync();
            acknowledgedAt[$"l{i}"] = (sent, Stopwatch.GetTimestamp());
            await Task.Delay(20);
        }

        var received = await receiver.WaitForAsync(r => r.Count >= Events, Within);
        // The first send of a process is slow (its HTTP client's first request: 70-140 ms here, against about 1 ms after),
        // and the few events written behind it wait: given apart from the rest.
        var inOrder = received.Select(r => Stopwatch.GetElapsedTime(acknowledgedAt[r.Body["subjectId"]!.GetValue<string>()].Acknowledged, r.ReceivedAt).TotalMilliseconds)
            .ToList();
        var fromAck = inOrder.Order().ToList();
        var warm = inOrder.Skip(Cold).Order().ToList();
        var fromSend = received.Select(r => Stopwatch.GetElapsedTime(acknowledgedAt[r.Body["subjectId"]!.GetValue<string>()].Sent, r.ReceivedAt).TotalMilliseconds)
            .Order().ToList();
        var stored = (await PropagationAsync(store))["latency"]!;
        output.WriteLine($"PROPAGATION-LATENCY ({(fixture.Database.IsPostgres ? "PostgreSQL" : "SQLite")}, {Events} withdrawals, one at a time): " +
            $"write acknowledged -> receiver: p50 {P(fromAck, 0.5):F1} ms, p99 {P(fromAck, 0.99):F1} ms, max {fromAck[^1]:F1} ms " +
            $"(the first {Cold}: {string.Join(", ", inOrder.Take(Cold).Select(l => l.ToString("F1", System.Globalization.CultureInfo.InvariantCulture)))} ms; " +
            $"the other {warm.Count}: p50 {P(warm, 0.5):F1} ms, p99 {P(warm, 0.99):F1} ms); " +
            $"write sent -> receiver: p50 {P(fromSend, 0.5):F1} ms, p99 {P(fromSend, 0.99):F1} ms; " +
            $"stored commit -> 2xx: p50 {stored["p50Ms"]} ms, p99 {stored["p99Ms"]} ms");
        Assert.True(P(fromAck, 0.99) < 2000, $"p99 {P(fromAck, 0.99)} ms");

        static double P(List<double> sorted, double p) => sorted[Math.Clamp((int)Math.Ceiling(p * sorted.Count) - 1, 0, sorted.Count - 1)];
    }

    protected async Task<string> RegisterAsync(string store, WebhookReceiver receiver)
    {
        using var response = await Admin.PostAsync($"/v1/stores/{store}/downstream",
            ConsentApi.Json($$"""{"url":"{{receiver.Url}}","secret":"{{receiver.Secret}}"}"""));
        await response.ShouldBeOkAsync(HttpStatusCode.Created);
        return (await response.ReadJsonAsync())["id"]!.GetValue<string>();
    }

    /// <summary>The store's only system in GET .../propagation.</summary>
    protected async Task<JsonNode> PropagationAsync(string store)
    {
        using var response = await Admin.GetAsync($"/v1/stores/{store}/propagation");
        await response.ShouldBeOkAsync();
        return (await response.ReadJsonAsync())["systems"]!.AsArray().Single()!;
    }

    private Task<IReadOnlyList<string>> OutboxAsync(string store, string condition) =>
        fixture.Database.QueryStringsAsync($"SELECT EventId FROM DownstreamOutbox WHERE StoreId = '{store}' AND {condition}");

    protected static async Task WaitUntilAsync(Func<bool> condition, string what) => await WaitUntilAsync(() => Task.FromResult(condition()), what);

    protected static async Task WaitUntilAsync(Func<Task<bool>> condition, string what)
    {
        var deadline = DateTime.UtcNow + Within;
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, $"Not within {Within}: {what}");
            await Task.Delay(50);
        }
    }

    private static string Describe(WebhookReceiver.Received received)
    {
        var body = received.Body;
        var purposes = body["purposes"]?.AsArray().Select(p => p!.GetValue<string>()).Order().ToArray() ?? [];
        return $"{body["type"]} {body["subjectId"]} {string.Join(",", purposes)}".TrimEnd();
    }

    protected static string Unique(string prefix) => $"{prefix}-{Guid.NewGuid():N}"[..20];
}

public sealed class SqlitePropagationTests(SqlitePropagationFixture fixture, ITestOutputHelper output)
    : PropagationTests(fixture, output), IClassFixture<SqlitePropagationFixture>;

public sealed class PostgresPropagationTests(PostgresPropagationFixture fixture, ITestOutputHelper output)
    : PropagationTests(fixture, output), IClassFixture<PostgresPropagationFixture>;
