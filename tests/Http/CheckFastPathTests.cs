using System.Net;
using System.Security.Claims;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.DependencyInjection;
using ShopAstro.Tests.Infrastructure;

namespace ShopAstro.Tests.Http;

/// <summary>
/// The single check's fast path (EdgeApi/Decisions/CheckFastPath.cs) answers exactly as the general pipeline: for
/// every request it takes, the same status, content type and body byte for byte; everything else falls through to
/// the general pipeline's answers. A query the fast path leaves alone (percent-encoded) reaches the general endpoint
/// with the same meaning, which is how both are compared on one server. Which of the two answered is told by
/// authentication: only the general pipeline runs it (a counting claims transformation sees every run).
/// </summary>
public sealed class CheckFastPathTests : IAsyncLifetime
{
    private readonly TestDatabase _database = TestDatabase.Sqlite();
    private readonly AuthenticationRuns _runs = new();
    private EdgeApiFactory _factory = null!;
    private HttpClient _admin = null!;
    private HttpClient _storefront = null!;

    public Task InitializeAsync()
    {
        _factory = new EdgeApiFactory(_database.ConnectionString, services: services => services.AddSingleton<IClaimsTransformation>(_runs));
        _admin = _factory.ClientWith(EdgeApiFactory.AdminToken);
        _storefront = _factory.ClientWith(EdgeApiFactory.StorefrontS1Token);
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        await _factory.DisposeAsync();
        await _database.DisposeAsync();
    }

    /// <summary>
    /// A query the fast path answers and one it leaves to the general pipeline with the same meaning: an extra
    /// parameter holding a percent-encoded reserved character (System.Uri would decode an unreserved one).
    /// </summary>
    public static TheoryData<string, string?> Checks => new()
    {
        { "purpose=analytics&purpose=cart", null },
        { "purpose=necessary", null },
        { "purpose=analytics&purpose=analytics&purpose=advertising", null },
        { "purpose=analytics&PURPOSE=recommendation&other=1", null },
        { "purpose=analytics&purpose=recommendation", "DNT" },
        { "purpose=analytics&purpose=affiliate_sharing", "Sec-GPC" },
        { "&purpose=cart&&", null },
    };

    [Theory]
    [MemberData(nameof(Checks))]
    public async Task Answers_byte_for_byte_as_the_general_pipeline(string fast, string? signal)
    {
        var store = "s1";
        await _admin.PublishPolicyAsync(store, 1);
        await (await _admin.SetConsentAsync(store, "fp-granted", "analytics", true, policyVersion: 1)).ShouldBeOkAsync();
        await (await _admin.SetConsentAsync(store, "fp-withdrawn", "analytics", false, policyVersion: 1)).ShouldBeOkAsync();

        foreach (var (storeId, subjectId) in new[] { (store, "fp-granted"), (store, "fp-withdrawn"), (store, "fp-never"), ("fp-no-policy", "u1") })
        {
            var client = storeId == store ? _storefront : _admin;
            var before = _runs.Count;
            var (fastStatus, fastType, fastBody) = await Get(client, $"/v1/stores/{storeId}/subjects/{subjectId}/decisions?{fast}", signal);
            Assert.Equal(before, _runs.Count);
            var (generalStatus, generalType, generalBody) = await Get(client, $"/v1/stores/{storeId}/subjects/{subjectId}/decisions?{fast}&x=%26", signal);
            Assert.Equal(before + 1, _runs.Count);
            Assert.Equal(HttpStatusCode.OK, fastStatus);
            Assert.Equal(generalStatus, fastStatus);
            Assert.Equal(generalType, fastType);
            Assert.Equal(generalBody, fastBody);
        }
    }

    [Theory]
    [InlineData(null, "purpose=cart", HttpStatusCode.Unauthorized, "unauthorized")]
    [InlineData("unknown-token", "purpose=cart", HttpStatusCode.Unauthorized, "unauthorized")]
    [InlineData(EdgeApiFactory.StorefrontS1Token, "purpose=cart", HttpStatusCode.Forbidden, "forbidden")]
    [InlineData(EdgeApiFactory.AdminToken, "purpose=cartx", HttpStatusCode.BadRequest, "unknown_purpose")]
    [InlineData(EdgeApiFactory.AdminToken, "purpose=", HttpStatusCode.BadRequest, "unknown_purpose")]
    [InlineData(EdgeApiFactory.AdminToken, "purpose", HttpStatusCode.BadRequest, "unknown_purpose")]
    [InlineData(EdgeApiFactory.AdminToken, "other=1", HttpStatusCode.BadRequest, "purpose_required")]
    [InlineData(EdgeApiFactory.AdminToken, "purpose=cart&explain=maybe", HttpStatusCode.BadRequest, "invalid_explain")]
    public async Task Leaves_every_refusal_to_the_general_pipeline(string? token, string query, HttpStatusCode status, string code)
    {
        var client = _factory.ClientWith(token);
        var response = await client.GetAsync($"/v1/stores/s2/subjects/u1/decisions?{query}");
        await response.ShouldBeProblemAsync(status, code);
    }

    [Fact]
    public async Task Leaves_too_many_purposes_explanations_and_other_methods_to_the_general_pipeline()
    {
        var many = string.Join('&', Enumerable.Repeat("purpose=cart", 33));
        await (await _admin.GetAsync($"/v1/stores/s1/subjects/u1/decisions?{many}")).ShouldBeProblemAsync(HttpStatusCode.BadRequest, "too_many_purposes");

        var explained = await _admin.GetAsync("/v1/stores/s1/subjects/u1/decisions?purpose=cart&explain=true");
        await explained.ShouldBeOkAsync();
        Assert.Contains("\"trace\"", await explained.Content.ReadAsStringAsync());

        var posted = await _admin.PostAsync("/v1/stores/s1/subjects/u1/decisions?purpose=cart", null);
        Assert.Equal(HttpStatusCode.MethodNotAllowed, posted.StatusCode);

        // A body is the general pipeline's to judge: over the limit, 413 whatever the route.
        using var withBody = new HttpRequestMessage(HttpMethod.Get, "/v1/stores/s1/subjects/u1/decisions?purpose=cart")
        {
            Content = new ByteArrayContent(new byte[(1024 * 1024) + 1]),
        };
        await (await _admin.SendAsync(withBody)).ShouldBeProblemAsync(HttpStatusCode.RequestEntityTooLarge, "body_too_large");

        var invalidId = await _admin.GetAsync("/v1/stores/s1/subjects/u%201/decisions?purpose=cart");
        await invalidId.ShouldBeProblemAsync(HttpStatusCode.BadRequest, "invalid_id");
    }

    private static async Task<(HttpStatusCode, string?, byte[])> Get(HttpClient client, string url, string? signal)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, url);
        if (signal is not null)
        {
            request.Headers.TryAddWithoutValidation(signal, "1");
        }

        using var response = await client.SendAsync(request);
        var body = await response.Content.ReadAsByteArrayAsync();
        return (response.StatusCode, response.Content.Headers.ContentType?.ToString(), body);
    }

    private sealed class AuthenticationRuns : IClaimsTransformation
    {
        private int _count;

        public int Count => Volatile.Read(ref _count);

        public Task<ClaimsPrincipal> TransformAsync(ClaimsPrincipal principal)
        {
            Interlocked.Increment(ref _count);
            return Task.FromResult(principal);
        }
    }
}
