using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using ShopAstro.EdgeApi.OpenApi;
using Xunit.Abstractions;

namespace ShopAstro.Tests.OpenApi;

/// <summary>
/// Real responses of the running service, for every status each operation can be made to give here (successes and
/// problems: 400, 401, 403, 404, 409, 413, 415, 422, 429), validated against the served document's schemas.
/// Health and metrics are checked as the text they are.
/// Not provoked: 503 (an outage; written by the same problem writer, see PostgresOutageTests) and 409
/// concurrent_modification (a lost race).
/// </summary>
[Collection(RunningEdgeCollection.Name)]
public sealed class ResponseValidationTests(RunningEdge edge, ITestOutputHelper output)
{
    private const string Store = "validation";
    private readonly List<string> _failures = [];
    private readonly HashSet<(string Operation, int Status)> _covered = [];

    [Fact]
    public async Task Real_responses_of_every_operation_match_the_documented_schemas()
    {
        var documented = new DocumentedResponses(edge.Document);
        using var admin = edge.Client(RunningEdge.AdminToken);
        using var anonymous = edge.Client(null);
        using var otherStore = edge.Client(RunningEdge.SellerS2Token);
        using var storefront = edge.Client(RunningEdge.StorefrontS1Token);
        var api = $"/v1/stores/{Store}";

        // The policy.
        await Expect(documented, admin, "GET", $"{api}/policy", null, 404);
        await Expect(documented, admin, "PUT", $"{api}/subjects/u1/consents", """{"purposes":{"analytics":true},"policyVersion":1,"source":"banner"}""", 422);
        await Expect(documented, admin, "PUT", $"{api}/policy", Policy(1), 200);
        await Expect(documented, admin, "PUT", $"{api}/policy", Policy(1), 409);
        await Expect(documented, admin, "PUT", $"{api}/policy",
            """{"version":2,"sellerAttestation":false,"purposes":{"advertising":{"enabled":true}}}""", 422);
        await Expect(documented, admin, "PUT", $"{api}/policy", """{"status":"active"}""", 400);
        await Expect(documented, admin, "PUT", $"{api}/policy", "{\"version\":", 400);
        await Expect(documented, admin, "PUT", $"{api}/policy", "version=2", 415, contentType: "text/plain");
        await Expect(documented, admin, "PUT", $"{api}/policy", "{\"version\":2,\"pad\":\"" + new string('x', 1_100_000) + "\"}", 413);
        await Expect(documented, admin, "PUT", "/v1/stores/not%20an%20id/policy", Policy(1), 400);
        await Expect(documented, admin, "GET", $"{api}/policy", null, 200);
        await Expect(documented, anonymous, "GET", $"{api}/policy", null, 401);
        await Expect(documented, otherStore, "GET", $"{api}/policy", null, 403);
        await Expect(documented, admin, "GET", $"{api}/stats", null, 200);
        await Expect(documented, otherStore, "GET", $"{api}/stats", null, 403);

        // A draft's impact, and a version scheduled an hour ahead, then withdrawn.
        await Expect(documented, admin, "POST", $"{api}/policy/preview", Policy(2), 200);
        await Expect(documented, admin, "POST", $"{api}/policy/preview", Policy(1), 409);
        var effectiveAt = DateTimeOffset.UtcNow.AddHours(1).ToString("yyyy-MM-ddTHH:mm:ssZ", System.Globalization.CultureInfo.InvariantCulture);
        await Expect(documented, admin, "PUT", $"{api}/policy", Policy(5, effectiveAt), 202);
        await Expect(documented, admin, "GET", $"{api}/policy", null, 200);
        await Expect(documented, admin, "DELETE", $"{api}/policy/upcoming/5", null, 204);
        await Expect(documented, admin, "DELETE", $"{api}/policy/upcoming/5", null, 404);

        // Consents and the subject record.
        await Expect(documented, admin, "PUT", $"{api}/subjects/u1/consents", """{"purposes":{"analytics":true},"policyVersion":1,"source":"banner"}""", 200);
        await Expect(documented, admin, "PUT", $"{api}/subjects/u1/consents", """{"purposes":{"analytics":true},"policyVersion":7,"source":"banner"}""", 422);
        await Expect(documented, admin, "PUT", $"{api}/subjects/u1/consents", """{"purposes":{"cart":true},"policyVersion":1,"source":"banner"}""", 400);
        await Expect(documented, admin, "PUT", $"{api}/subjects/u1/consents", "[]", 400);
        await Expect(documented, admin, "GET", $"{api}/subjects/u1", null, 200);
        await Expect(documented, admin, "GET", $"{api}/subjects/never-seen", null, 404);
        await Expect(documented, otherStore, "GET", $"{api}/subjects/u1", null, 403);

        // Decisions: the fast path (a plain check), the general pipeline (explain, or a refusal) and a store with no policy.
        await Expect(documented, admin, "GET", $"{api}/subjects/u1/decisions?purpose=analytics&purpose=cart", null, 200);
        await Expect(documented, admin, "GET", $"{api}/subjects/u1/decisions?purpose=analytics&explain=false", null, 200, gpc: true);
        await Expect(documented, admin, "GET", $"{api}/subjects/u1/decisions?purpose=analytics&explain=true", null, 200);
        await Expect(documented, admin, "GET", "/v1/stores/no-policy/subjects/anon:x/decisions?purpose=analytics", null, 200);
        await Expect(documented, admin, "GET", $"{api}/subjects/u1/decisions", null, 400);
        await Expect(documented, admin, "GET", $"{api}/subjects/u1/decisions?purpose=tracking", null, 400);
        await Expect(documented, admin, "GET", $"{api}/subjects/u1/decisions?purpose=cart&explain=maybe", null, 400);
        await Expect(documented, admin, "GET", $"{api}/subjects/u1/decisions?" + string.Join("&", Enumerable.Repeat("purpose=cart", 33)), null, 400);
        await Expect(documented, admin, "GET", $"{api}/subjects/{new string('u', 129)}/decisions?purpose=cart", null, 400);
        await Expect(documented, anonymous, "GET", $"{api}/subjects/u1/decisions?purpose=cart", null, 401);
        await Expect(documented, otherStore, "GET", $"{api}/subjects/u1/decisions?purpose=cart", null, 403);

        // The batch.
        await Expect(documented, admin, "POST", $"{api}/decisions/batch", ApiExample("CheckDecisionsBatch"), 200);
        await Expect(documented, admin, "POST", $"{api}/decisions/batch", """{"signals":{"dnt":true,"gpc":false}}""", 400);
        await Expect(documented, admin, "POST", $"{api}/decisions/batch", """{"items":[{"subjectId":"u1","purpose":"tracking"}]}""", 400);
        await Expect(documented, admin, "POST", $"{api}/decisions/batch",
            "{\"items\":[" + string.Join(",", Enumerable.Repeat("""{"subjectId":"u1","purpose":"cart"}""", 10_001)) + "]}", 400);
        await Expect(documented, admin, "POST", $"{api}/decisions/batch", "{}", 415, contentType: "application/xml");

        // Linking, age, cancellation and deletion.
        await Expect(documented, admin, "PUT", $"{api}/subjects/anon:v1/consents", """{"purposes":{"recommendation":true},"policyVersion":1,"source":"banner"}""", 200);
        await Expect(documented, admin, "POST", $"{api}/subjects/u1/link", """{"anonymousId":"anon:v1"}""", 200);
        await Expect(documented, admin, "POST", $"{api}/subjects/u1/link", """{"anonymousId":"v1"}""", 400);
        await Expect(documented, admin, "POST", $"{api}/subjects/anon:v2/link", """{"anonymousId":"anon:v3"}""", 400);
        await Expect(documented, admin, "PUT", $"{api}/subjects/u2/age", """{"minor":true}""", 204);
        await Expect(documented, admin, "PUT", $"{api}/subjects/u2/consents", """{"purposes":{"analytics":true},"policyVersion":1,"source":"banner"}""", 409);
        await Expect(documented, admin, "POST", $"{api}/subjects/u2/link", """{"anonymousId":"anon:v4"}""", 409);
        await Expect(documented, admin, "PUT", $"{api}/subjects/u2/age", """{}""", 400);
        await Expect(documented, storefront, "PUT", "/v1/stores/s1/subjects/u2/age", """{"minor":false}""", 403);
        await Expect(documented, admin, "POST", $"{api}/subjects/u3/cancel", null, 204);
        await Expect(documented, admin, "PUT", $"{api}/subjects/u3/age", """{"minor":true}""", 409);
        await Expect(documented, otherStore, "POST", $"{api}/subjects/u3/cancel", null, 403);
        await Expect(documented, admin, "DELETE", $"{api}/subjects/u1", null, 204);
        await Expect(documented, anonymous, "DELETE", $"{api}/subjects/u1", null, 401);

        // Statistics over time and the partners' aggregates (a partner token reads nothing else).
        using var partner = edge.Client(RunningEdge.PartnerToken);
        await WaitForSnapshotsAsync(admin, $"{api}/stats/history");
        await Expect(documented, admin, "GET", $"{api}/stats/history", null, 200);
        await Expect(documented, admin, "GET", $"{api}/stats/history?from=yesterday", null, 400);
        await Expect(documented, admin, "GET", $"{api}/stats/history?from=2026-11-01T00:00:00Z&to=2026-11-20T00:00:00Z", null, 400);
        await Expect(documented, otherStore, "GET", $"{api}/stats/history", null, 403);
        await Expect(documented, partner, "GET", $"{api}/stats/history", null, 403);
        await Expect(documented, partner, "GET", $"{api}/aggregates", null, 200);
        await Expect(documented, admin, "GET", $"{api}/aggregates?from=2026-02-30", null, 400);
        await Expect(documented, anonymous, "GET", $"{api}/aggregates", null, 401);
        await Expect(documented, partner, "GET", "/v1/stores/s1/aggregates", null, 403);
        await Expect(documented, partner, "GET", $"{api}/policy", null, 403);
        await Expect(documented, partner, "GET", "/health/live", null, 403);
        await Expect(documented, partner, "GET", "/.well-known/gpc.json", null, 403);

        // Downstream systems and what was propagated to them (registering calls nothing).
        var system = (await Expect(documented, admin, "POST", $"{api}/downstream",
            """{"url":"https://hooks.example.com/shopastro","secret":"0123456789abcdef0123"}""", 201))!["id"]!.GetValue<string>();
        await Expect(documented, admin, "POST", $"{api}/downstream", """{"url":"ftp://hooks.example.com","secret":"0123456789abcdef0123"}""", 400);
        await Expect(documented, admin, "POST", $"{api}/downstream", """{"url":"https://hooks.example.com","secret":"short"}""", 400);
        await Expect(documented, storefront, "POST", $"{api}/downstream", """{"url":"https://hooks.example.com","secret":"0123456789abcdef0123"}""", 403);
        await Expect(documented, admin, "GET", $"{api}/downstream", null, 200);
        await Expect(documented, admin, "GET", $"{api}/propagation", null, 200);
        await Expect(documented, otherStore, "GET", $"{api}/propagation", null, 403);
        await Expect(documented, admin, "DELETE", $"{api}/downstream/{system}", null, 204);
        await Expect(documented, admin, "DELETE", $"{api}/downstream/{system}", null, 404);

        // Data-subject requests.
        var registered = await Expect(documented, admin, "POST", $"{api}/requests", ApiExample("RegisterRequest"), 201);
        var id = registered!["id"]!.GetValue<string>();
        var unverified = (await Expect(documented, admin, "POST", $"{api}/requests",
            """{"subjectId":"u5","type":"cancellation","receivedAt":"2026-11-27T10:00:00Z"}""", 201))!["id"]!.GetValue<string>();
        var access = (await Expect(documented, admin, "POST", $"{api}/requests",
            """{"subjectId":"u6","type":"access","receivedAt":"2026-11-27T10:00:00Z"}""", 201))!["id"]!.GetValue<string>();
        await Expect(documented, admin, "POST", $"{api}/requests", """{"subjectId":"u1","type":"gossip"}""", 400);
        await Expect(documented, admin, "POST", $"{api}/requests", """{"subjectId":"u1","type":"access","receivedAt":"2999-01-01T00:00:00Z"}""", 400);
        await Expect(documented, admin, "POST", $"{api}/requests", """{"subjectId":"u1","type":"access","receivedAt":"2000-01-03T09:00:00Z"}""", 422);
        await Expect(documented, admin, "GET", $"{api}/requests", null, 200);
        await Expect(documented, admin, "GET", $"{api}/requests?status=open", null, 200);
        await Expect(documented, admin, "GET", $"{api}/requests?status=someday", null, 400);
        await Expect(documented, admin, "GET", $"{api}/requests/{id}", null, 200);
        await Expect(documented, admin, "GET", $"{api}/requests/no-such-request", null, 404);
        await Expect(documented, admin, "POST", $"{api}/requests/{unverified}/complete", null, 409);
        await Expect(documented, admin, "POST", $"{api}/requests/{unverified}/verify", """{"method":"id_document"}""", 200);
        await Expect(documented, admin, "POST", $"{api}/requests/{unverified}/verify", """{"method":"telepathy"}""", 400);
        await Expect(documented, admin, "POST", $"{api}/requests/no-such-request/verify", """{"method":"id_document"}""", 404);
        await Expect(documented, admin, "POST", $"{api}/requests/{id}/complete", null, 200);
        await Expect(documented, admin, "POST", $"{api}/requests/no-such-request/complete", null, 404);
        await Expect(documented, admin, "POST", $"{api}/requests/{id}/verify", """{"method":"id_document"}""", 409);
        await Expect(documented, admin, "POST", $"{api}/requests/{id}/reject", """{"ground":"abuse_of_rights"}""", 409);
        await Expect(documented, admin, "POST", $"{api}/requests/{access}/reject", """{"ground":"boredom"}""", 400);
        await Expect(documented, admin, "POST", $"{api}/requests/no-such-request/reject", """{"ground":"abuse_of_rights"}""", 404);
        await Expect(documented, admin, "POST", $"{api}/requests/{access}/reject", """{"ground":"abuse_of_rights"}""", 200);
        await Expect(documented, admin, "GET", $"{api}/requests?status=rejected", null, 200);
        await Expect(documented, otherStore, "GET", $"{api}/requests", null, 403);

        // What needs no token: the support file, health and metrics.
        await Expect(documented, anonymous, "GET", "/.well-known/gpc.json", null, 200);
        await Expect(documented, anonymous, "GET", "/health", null, 200);
        await Expect(documented, anonymous, "GET", "/health/live", null, 200);
        await Expect(documented, anonymous, "GET", "/health/ready", null, 200);
        await Expect(documented, anonymous, "GET", "/health/ready", new string('x', 1_100_000), 413);
        await Expect(documented, anonymous, "GET", "/metrics", null, 200);

        // A token over its limit: one of its own, so that no other check is slowed.
        using var limited = edge.Client(RunningEdge.RateLimitedToken);
        var burst = await Task.WhenAll(Enumerable.Range(0, RunningEdge.Burst * 3).Select(_ => limited.GetAsync($"{api}/stats")));
        var refused = burst.FirstOrDefault(r => r.StatusCode == HttpStatusCode.TooManyRequests);
        Assert.True(refused is not null, "No 429 after a burst of three times the token's limit.");
        Assert.True(refused.Headers.RetryAfter is not null, "429 without Retry-After");
        Record(documented, "GET", $"{api}/stats", refused, await refused.Content.ReadAsStringAsync());
        foreach (var response in burst)
        {
            response.Dispose();
        }

        var operations = _covered.Select(c => c.Operation).Distinct().Count();
        output.WriteLine($"VALIDATION: {_covered.Count} (operation, status) pairs of {operations} operations validated against the document");
        foreach (var group in _covered.GroupBy(c => c.Operation).OrderBy(g => g.Key))
        {
            output.WriteLine($"  {group.Key}: {string.Join(", ", group.Select(c => c.Status).Order())}");
        }

        // Every documented operation is exercised: one added later fails this test until a scenario above provokes it.
        var exercised = _covered.Select(c => c.Operation).ToHashSet();
        var missing = AllOperationIds().Where(id => !exercised.Contains(id)).ToList();
        foreach (var operation in missing)
        {
            output.WriteLine($"  NOT EXERCISED: {operation}");
        }

        Assert.True(_failures.Count == 0, string.Join("\n", _failures));
        Assert.True(missing.Count == 0, $"Operations no scenario above exercised: {string.Join(", ", missing)}.");
    }

    [Fact]
    public void A_response_that_does_not_match_its_schema_is_reported()
    {
        var documented = new DocumentedResponses(edge.Document);
        const string check = "/v1/stores/s1/subjects/u1/decisions";

        Assert.Empty(documented.Check("GET", check, 200, "application/json", ApiExamples.Decisions));
        Assert.NotEmpty(documented.Check("GET", check, 200, "application/json", """{"storeId":"s1","subjectId":"u1","policyVersion":1}"""));
        Assert.NotEmpty(documented.Check("GET", check, 200, "application/json",
            """{"storeId":"s1","subjectId":"u1","policyVersion":1,"decisions":[{"purpose":"analytics","allowed":true,"reason":"because"}]}"""));
        Assert.NotEmpty(documented.Check("GET", check, 200, "application/json",
            """{"storeId":"s1","subjectId":"u1","policyVersion":"1","decisions":[]}"""));
        Assert.NotEmpty(documented.Check("GET", check, 200, "application/json",
            """{"storeId":"s1","subjectId":"u1","policyVersion":1,"decisions":[],"cached":true}"""));
        Assert.NotEmpty(documented.Check("GET", check, 400, "application/problem+json", """{"type":"x","title":"t","status":400}"""));
        Assert.NotEmpty(documented.Check("GET", check, 418, "application/problem+json", """{"type":"x","title":"t","status":418,"code":"teapot"}"""));
        Assert.NotEmpty(documented.Check("GET", check, 200, "text/plain", ApiExamples.Decisions));
        Assert.Empty(documented.Check("GET", "/health", 200, "text/plain", "Degraded"));
        Assert.NotEmpty(documented.Check("GET", "/health", 200, "text/plain", "Unhealthy"));
        Assert.NotEmpty(documented.Check("GET", "/v1/stores/s1/requests/r1", 200, "application/json",
            """{"id":"r1","subjectId":null,"type":"access","status":"open","overdue":false,"receivedAt":"yesterday"}"""));
    }

    /// <summary>The main calls, whose request (if any) and success carry an example.</summary>
    private static readonly string[] MainCalls =
    [
        "CheckDecisions", "CheckDecisionsBatch", "SetConsents", "GetSubject", "PublishPolicy", "GetPolicy", "PreviewPolicy", "GetStats",
        "RegisterRequest", "GetAggregates", "RegisterDownstreamSystem", "GetPropagation", "DeliverDownstreamEvent",
    ];

    [Fact]
    public void The_documents_examples_match_their_schemas()
    {
        var documented = new DocumentedResponses(edge.Document);
        var checkedExamples = 0;
        var withExamples = new HashSet<string>();
        var operations = edge.Document["paths"]!.AsObject().Concat(edge.Document["webhooks"]!.AsObject());
        foreach (var (path, item) in operations)
        {
            foreach (var (method, operation) in item!.AsObject())
            {
                var media = new[] { operation!["requestBody"]?["content"]?["application/json"] }
                    .Concat(operation["responses"]!.AsObject().Select(r => r.Value?["content"]?["application/json"]));
                foreach (var content in media.Where(m => m?["example"] is not null))
                {
                    checkedExamples++;
                    withExamples.Add(operation["operationId"]!.GetValue<string>());
                    Assert.Empty(documented.Validate(content!["schema"]!, content["example"]!.ToJsonString()));
                }
            }
        }

        output.WriteLine($"EXAMPLES: {checkedExamples} examples of {withExamples.Count} operations valid against their schemas");
        Assert.Empty(MainCalls.Except(withExamples));
    }

    /// <summary>Snapshots are stored every second here: waits until the store's writes above are in one.</summary>
    private static async Task WaitForSnapshotsAsync(HttpClient client, string history)
    {
        for (var attempt = 0; attempt < 100; attempt++)
        {
            if (JsonNode.Parse(await client.GetStringAsync(history))!["snapshots"]!.AsArray().Count > 0)
            {
                return;
            }

            await Task.Delay(200);
        }

        Assert.Fail($"No snapshot in {history} after 20 s.");
    }

    private IEnumerable<string> AllOperationIds() =>
        edge.Document["paths"]!.AsObject().SelectMany(p => p.Value!.AsObject().Select(o => o.Value!["operationId"]!.GetValue<string>()));

    private string ApiExample(string operationId)
    {
        var operation = edge.Document["paths"]!.AsObject().SelectMany(p => p.Value!.AsObject().Select(o => o.Value!))
            .Single(o => o["operationId"]?.GetValue<string>() == operationId);
        return operation["requestBody"]!["content"]!["application/json"]!["example"]!.ToJsonString();
    }

    private static string Policy(int version, string? effectiveAt = null) =>
        "{\"version\":" + version + (effectiveAt is null ? "" : ",\"effectiveAt\":\"" + effectiveAt + "\"")
        + ""","status":"active","sellerAttestation":true,"purposes":{"analytics":{"enabled":true,"materialChange":false},"recommendation":{"enabled":true,"materialChange":false}}}""";

    /// <summary>Sends the request, asserts it got the status the scenario provokes, and checks the answer against the document.</summary>
    private async Task<JsonNode?> Expect(
        DocumentedResponses documented, HttpClient client, string method, string path, string? body, int status,
        string contentType = "application/json", bool gpc = false)
    {
        using var request = new HttpRequestMessage(new HttpMethod(method), path);
        if (body is not null)
        {
            request.Content = new StringContent(body, Encoding.UTF8, contentType);
            // A body over the limit is refused from its headers: the client waits for the answer instead of sending it
            // into a connection the server may close.
            request.Headers.ExpectContinue = body.Length > 1024 * 1024;
        }

        if (gpc)
        {
            request.Headers.Add("Sec-GPC", "1");
        }

        using var response = await client.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True((int)response.StatusCode == status, $"{method} {path}: expected {status}, got {(int)response.StatusCode}: {text}");
        Record(documented, method, path, response, text);
        return text.Length > 0 && response.Content.Headers.ContentType?.MediaType?.EndsWith("json", StringComparison.Ordinal) == true
            ? JsonNode.Parse(text)
            : null;
    }

    private void Record(DocumentedResponses documented, string method, string path, HttpResponseMessage response, string text)
    {
        var pathOnly = path.Split('?')[0];
        var status = (int)response.StatusCode;
        _failures.AddRange(documented.Check(method, Uri.UnescapeDataString(pathOnly), status, response.Content.Headers.ContentType?.ToString(), text));
        if (documented.Find(method, Uri.UnescapeDataString(pathOnly)).OperationId is { } operation)
        {
            _covered.Add((operation, status));
        }
    }
}
