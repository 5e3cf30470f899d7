using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace ShopAstro.Tests.Infrastructure;

/// <summary>Calls of the contract, exactly as api-contract.md spells them.</summary>
public static class ConsentApi
{
    public static async Task<HttpResponseMessage> PublishPolicyAsync(
        this HttpClient client, string storeId, int version, string purposesJson = """{"analytics":{"enabled":true,"materialChange":false},"recommendation":{"enabled":true,"materialChange":false}}""",
        string status = "active", bool attestation = true) =>
        await client.PutAsync($"/v1/stores/{storeId}/policy",
            Json($$"""{"version":{{version}},"status":"{{status}}","sellerAttestation":{{(attestation ? "true" : "false")}},"purposes":{{purposesJson}}}"""));

    public static async Task<HttpResponseMessage> SetConsentAsync(
        this HttpClient client, string storeId, string subjectId, string purpose, bool granted, int policyVersion = 1,
        string source = "banner", bool dnt = false, bool gpc = false)
    {
        using var request = new HttpRequestMessage(HttpMethod.Put, $"/v1/stores/{storeId}/subjects/{subjectId}/consents")
        {
            Content = Json($$"""{"purposes":{"{{purpose}}":{{(granted ? "true" : "false")}}},"policyVersion":{{policyVersion}},"source":"{{source}}"}"""),
        };
        AddSignals(request, dnt, gpc);
        return await client.SendAsync(request);
    }

    /// <summary>The decision for one purpose: (allowed, reason).</summary>
    public static async Task<(bool Allowed, string Reason)> DecideAsync(
        this HttpClient client, string storeId, string subjectId, string purpose, bool dnt = false, bool gpc = false)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, $"/v1/stores/{storeId}/subjects/{subjectId}/decisions?purpose={purpose}");
        AddSignals(request, dnt, gpc);
        using var response = await client.SendAsync(request);
        var body = await response.Content.ReadAsStringAsync();
        if (response.StatusCode != HttpStatusCode.OK)
        {
            throw new HttpRequestException($"Decision answered {(int)response.StatusCode}: {body}");
        }

        var decision = JsonNode.Parse(body)!["decisions"]![0]!;
        return (decision["allowed"]!.GetValue<bool>(), decision["reason"]!.GetValue<string>());
    }

    public static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");

    public static async Task<JsonNode> ReadJsonAsync(this HttpResponseMessage response) =>
        JsonNode.Parse(await response.Content.ReadAsStringAsync())!;

    /// <summary>Asserts the status and, for errors, an RFC 9457 body with the given code.</summary>
    public static async Task<JsonNode> ShouldBeProblemAsync(this HttpResponseMessage response, HttpStatusCode status, string? code = null)
    {
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(status == response.StatusCode, $"Expected {(int)status}, got {(int)response.StatusCode}: {body}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var problem = JsonNode.Parse(body)!;
        Assert.Equal((int)status, problem["status"]!.GetValue<int>());
        if (code is not null)
        {
            Assert.Equal(code, problem["code"]?.GetValue<string>());
        }

        Assert.DoesNotContain("   at ", body, StringComparison.Ordinal);
        return problem;
    }

    public static async Task ShouldBeOkAsync(this HttpResponseMessage response, HttpStatusCode status = HttpStatusCode.OK)
    {
        if (response.StatusCode != status)
        {
            Assert.Fail($"Expected {(int)status}, got {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
        }
    }

    private static void AddSignals(HttpRequestMessage request, bool dnt, bool gpc)
    {
        if (dnt)
        {
            request.Headers.Add("DNT", "1");
        }

        if (gpc)
        {
            request.Headers.Add("Sec-GPC", "1");
        }
    }

    public static JsonSerializerOptions Web { get; } = new(JsonSerializerDefaults.Web);
}
