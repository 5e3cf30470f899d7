using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using ShopAstro.Tests.Infrastructure;

namespace ShopAstro.Tests.Security;

public enum BodyKind
{
    None,
    Batch,
    Consent,
    Age,
    Link,
    Policy,
    PolicyDraft,
    ScheduledPolicy,
    Request,
    Verify,
    Reject,
    Downstream,
}

/// <summary>One route of the store API: <c>/v1/stores/{storeId}</c> + <see cref="Pattern"/>.</summary>
public sealed record StoreRoute(string Method, string Pattern, BodyKind Body, bool SellerOnly)
{
    public const string Prefix = "/v1/stores/{storeId}";

    public string FullPattern => Prefix + Pattern;

    public bool HasSubject => Pattern.Contains("{subjectId}", StringComparison.Ordinal);

    public bool HasRequestId => Pattern.Contains("{requestId}", StringComparison.Ordinal);

    /// <summary>The route's path with its parameters filled: subject u1, these ids, the seeded scheduled version.</summary>
    public static string Fill(string pattern, string store, string requestId, string systemId) =>
        pattern.Replace("{storeId}", store, StringComparison.Ordinal)
            .Replace("{subjectId}", "u1", StringComparison.Ordinal)
            .Replace("{requestId}", requestId, StringComparison.Ordinal)
            .Replace("{version:int}", SecurityRoutes.ScheduledVersion.ToString(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal)
            .Replace("{systemId}", systemId, StringComparison.Ordinal);

    public override string ToString() => $"{Method} {FullPattern}";
}

/// <summary>The store routes as api-contract.md and EdgeApi/Endpoints/*.cs define them, and helpers shared by the security tests.</summary>
public static class SecurityRoutes
{
    public static readonly StoreRoute[] All =
    [
        new("GET", "/subjects/{subjectId}/decisions", BodyKind.None, SellerOnly: false),
        new("POST", "/decisions/batch", BodyKind.Batch, SellerOnly: false),
        new("PUT", "/subjects/{subjectId}/consents", BodyKind.Consent, SellerOnly: false),
        new("GET", "/subjects/{subjectId}", BodyKind.None, SellerOnly: true),
        new("DELETE", "/subjects/{subjectId}", BodyKind.None, SellerOnly: true),
        new("POST", "/subjects/{subjectId}/cancel", BodyKind.None, SellerOnly: true),
        new("PUT", "/subjects/{subjectId}/age", BodyKind.Age, SellerOnly: false),
        new("POST", "/subjects/{subjectId}/link", BodyKind.Link, SellerOnly: false),
        new("PUT", "/policy", BodyKind.Policy, SellerOnly: true),
        new("GET", "/policy", BodyKind.None, SellerOnly: false),
        new("POST", "/policy/preview", BodyKind.PolicyDraft, SellerOnly: true),
        new("DELETE", "/policy/upcoming/{version:int}", BodyKind.None, SellerOnly: true),
        new("GET", "/stats", BodyKind.None, SellerOnly: true),
        new("GET", "/stats/history", BodyKind.None, SellerOnly: true),
        new("GET", "/aggregates", BodyKind.None, SellerOnly: true),
        new("POST", "/requests", BodyKind.Request, SellerOnly: true),
        new("GET", "/requests", BodyKind.None, SellerOnly: true),
        new("GET", "/requests/{requestId}", BodyKind.None, SellerOnly: true),
        new("POST", "/requests/{requestId}/verify", BodyKind.Verify, SellerOnly: true),
        new("POST", "/requests/{requestId}/complete", BodyKind.None, SellerOnly: true),
        new("POST", "/requests/{requestId}/reject", BodyKind.Reject, SellerOnly: true),
        new("POST", "/downstream", BodyKind.Downstream, SellerOnly: true),
        new("GET", "/downstream", BodyKind.None, SellerOnly: true),
        new("DELETE", "/downstream/{systemId}", BodyKind.None, SellerOnly: true),
        new("GET", "/propagation", BodyKind.None, SellerOnly: true),
    ];

    /// <summary>The methods mapped on a pattern (several routes share one, e.g. GET and DELETE of a subject).</summary>
    public static IReadOnlySet<string> MethodsOf(string pattern) =>
        All.Where(r => r.Pattern == pattern).Select(r => r.Method).ToHashSet(StringComparer.Ordinal);

    public static readonly string[] Purposes = ["necessary", "cart", "analytics", "recommendation", "advertising", "affiliate_sharing"];
    public static readonly string[] ConsentPurposes = ["analytics", "recommendation", "advertising", "affiliate_sharing"];
    public static readonly string[] Sources = ["banner", "account_settings", "api", "import"];
    public static readonly string[] RequestTypes = ["access", "correction", "deletion", "cancellation", "withdrawal", "explanation"];

    /// <summary>A well-formed body for the route, accepted as it is by a token that covers the store.</summary>
    /// <summary>The version the rows schedule and withdraw (<c>DELETE .../policy/upcoming/{version}</c>).</summary>
    public const int ScheduledVersion = 90;

    public static string ValidBody(BodyKind kind, int policyVersion = 1) => kind switch
    {
        BodyKind.Batch => """{"items":[{"subjectId":"u1","purpose":"analytics"},{"subjectId":"u2","purpose":"recommendation"}],"signals":{"dnt":false,"gpc":false}}""",
        BodyKind.Consent => $$"""{"purposes":{"analytics":true,"recommendation":false},"policyVersion":{{policyVersion}},"source":"banner"}""",
        BodyKind.Age => """{"minor":true}""",
        BodyKind.Link => """{"anonymousId":"anon:a1"}""",
        BodyKind.ScheduledPolicy => "{\"version\":" + policyVersion + ",\"status\":\"active\",\"sellerAttestation\":true,\"effectiveAt\":\""
            + DateTimeOffset.UtcNow.AddHours(1).UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", System.Globalization.CultureInfo.InvariantCulture)
            + "\",\"purposes\":{\"analytics\":{\"enabled\":true,\"materialChange\":false}}}",
        BodyKind.Policy or BodyKind.PolicyDraft => "{\"version\":" + policyVersion + ""","status":"active","sellerAttestation":true,"purposes":{"analytics":{"enabled":true,"materialChange":false},"recommendation":{"enabled":true,"materialChange":true}}}""",
        // A fixed receipt within the built-in calendar: a due date past its last year would be a 422.
        BodyKind.Request => """{"subjectId":"u1","type":"deletion","receivedAt":"2026-11-27T09:00:00Z"}""",
        BodyKind.Verify => """{"method":"sms_code"}""",
        BodyKind.Reject => """{"ground":"abuse_of_rights"}""",
        BodyKind.Downstream => """{"url":"https://downstream.example.com/hook","secret":"0123456789abcdef"}""",
        _ => "",
    };

    public static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");

    /// <summary>What a store holds after <see cref="SeedAsync"/>: the subjects, requests and downstream system written, to snapshot.</summary>
    public sealed record SeededStore(string StoreId, IReadOnlyList<string> Subjects, IReadOnlyList<string> RequestIds, string SystemId);

    /// <summary>
    /// A store with a policy (v1), subjects with grants and withdrawals, a linked visitor, a minor, a cancelled
    /// account, open and completed (access) requests; waits until its stats have settled.
    /// </summary>
    public static async Task<SeededStore> SeedAsync(HttpClient admin, string store, params string[] extraSubjects)
    {
        await Ok(await admin.PutAsync($"/v1/stores/{store}/policy", Json(ValidBody(BodyKind.Policy, 1))));
        await Consent(admin, store, "u1", """{"analytics":true,"recommendation":false}""");
        await Consent(admin, store, "u2", """{"analytics":true}""");
        await Consent(admin, store, "u2", """{"analytics":false,"recommendation":true}""");
        await Consent(admin, store, "anon:a1", """{"advertising":false,"recommendation":true}""");
        await Consent(admin, store, "c1", """{"analytics":true}""");
        await Ok(await admin.PostAsync($"/v1/stores/{store}/subjects/c1/cancel", null), HttpStatusCode.NoContent);
        await Consent(admin, store, "m1", """{"analytics":true}""");
        await Ok(await admin.PutAsync($"/v1/stores/{store}/subjects/m1/age", Json("""{"minor":true}""")), HttpStatusCode.NoContent);
        await Consent(admin, store, "anon:a3", """{"analytics":true}""");
        await Consent(admin, store, "u3", """{"recommendation":true}""");
        await Ok(await admin.PostAsync($"/v1/stores/{store}/subjects/u3/link", Json("""{"anonymousId":"anon:a3"}""")));

        var requestIds = new List<string>();
        foreach (var type in new[] { "deletion", "access", "withdrawal" })
        {
            var created = await admin.PostAsync($"/v1/stores/{store}/requests",
                Json($$"""{"subjectId":"u1","type":"{{type}}","receivedAt":"2026-11-27T09:00:00Z"}"""));
            await Ok(created, HttpStatusCode.Created);
            requestIds.Add((await created.ReadJsonAsync())["id"]!.GetValue<string>());
        }

        await Ok(await admin.PostAsync($"/v1/stores/{store}/requests/{requestIds[1]}/complete", null));
        // Last, so that no event of the seeding is queued for it.
        var system = await admin.PostAsync($"/v1/stores/{store}/downstream", Json(ValidBody(BodyKind.Downstream)));
        await Ok(system, HttpStatusCode.Created);
        var systemId = (await system.ReadJsonAsync())["id"]!.GetValue<string>();
        await WaitForSettledStatsAsync(admin, store);
        return new SeededStore(store, ["u1", "u2", "u3", "anon:a1", "anon:a3", "c1", "m1", "never-written", .. extraSubjects], requestIds, systemId);
    }

    /// <summary>
    /// Everything an admin can read of a store, as one canonical text: policy, stats (without their time),
    /// every named subject record (or its 404), the requests, each request by id.
    /// </summary>
    public static async Task<string> SnapshotAsync(HttpClient admin, SeededStore seeded)
    {
        var text = new StringBuilder();
        async Task Add(string path, Action<JsonNode>? normalise = null)
        {
            using var response = await admin.GetAsync($"/v1/stores/{seeded.StoreId}{path}");
            var body = await response.Content.ReadAsStringAsync();
            if (JsonNode.Parse(body) is JsonObject node)
            {
                // A problem's traceId differs on every read.
                node.Remove("traceId");
                if (response.IsSuccessStatusCode)
                {
                    normalise?.Invoke(node);
                }

                body = node.ToJsonString();
            }

            text.Append(path).Append(" -> ").Append((int)response.StatusCode).Append(' ').AppendLine(body);
        }

        await Add("/policy");
        await Add("/stats", node => node.AsObject().Remove("at"));
        foreach (var subject in seeded.Subjects)
        {
            await Add($"/subjects/{Uri.EscapeDataString(subject)}");
        }

        await Add("/downstream");
        await Add("/requests");
        foreach (var id in seeded.RequestIds)
        {
            await Add($"/requests/{id}");
        }

        return text.ToString();
    }

    /// <summary>Stats reach the store grain about once a second: waits until two reads 1.5 s apart agree.</summary>
    public static async Task WaitForSettledStatsAsync(HttpClient admin, string store)
    {
        var deadline = DateTime.UtcNow.AddSeconds(20);
        string? previous = null;
        while (DateTime.UtcNow < deadline)
        {
            var node = await (await admin.GetAsync($"/v1/stores/{store}/stats")).ReadJsonAsync();
            node.AsObject().Remove("at");
            var current = node.ToJsonString();
            if (current == previous)
            {
                return;
            }

            previous = current;
            await Task.Delay(1500);
        }
    }

    private static async Task Consent(HttpClient admin, string store, string subject, string purposes) =>
        await Ok(await admin.PutAsync($"/v1/stores/{store}/subjects/{subject}/consents",
            Json($$"""{"purposes":{{purposes}},"policyVersion":1,"source":"banner"}""")));

    private static async Task Ok(HttpResponseMessage response, HttpStatusCode status = HttpStatusCode.OK)
    {
        if (response.StatusCode != status)
        {
            throw new InvalidOperationException(
                $"Seeding: {response.RequestMessage?.Method} {response.RequestMessage?.RequestUri} answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
        }
    }
}
