using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using ShopAstro.Tests.Infrastructure;

namespace ShopAstro.Tests.Http;

/// <summary>
/// Every kind of bad input gets its documented 4xx, never a 5xx, and changes nothing: after each refused write
/// the subject is still unknown, the policy is the one published before and the decision is the same.
/// </summary>
public sealed class BadInputTests(SqliteEdgeFixture fixture) : IClassFixture<SqliteEdgeFixture>
{
    private const int MaxBodyBytes = 1024 * 1024;

    // Accepted as they are; each bad body below differs from one of these in one respect.
    private const string GoodConsent = """{"purposes":{"analytics":true},"policyVersion":1,"source":"banner"}""";
    private const string GoodPolicy = """{"version":2,"status":"active","sellerAttestation":true,"purposes":{"analytics":{"enabled":true,"materialChange":false}}}""";

    private readonly HttpClient _admin = fixture.Factory.ClientWith(EdgeApiFactory.AdminToken);

    // ---- Malformed JSON ----

    [Theory]
    [InlineData("""{"purposes":{"analytics":true},"policyVersion":1""")]
    [InlineData("{")]
    [InlineData("[]")]
    [InlineData("""[{"purposes":{"analytics":true},"policyVersion":1,"source":"banner"}]""")]
    [InlineData("\"x\"")]
    [InlineData("null")]
    [InlineData("42")]
    [InlineData("true")]
    [InlineData("""{"purposes":{"analytics":"yes"},"policyVersion":1,"source":"banner"}""")]
    [InlineData("""{"purposes":{"analytics":1},"policyVersion":1,"source":"banner"}""")]
    [InlineData("""{"purposes":{"analytics":null},"policyVersion":1,"source":"banner"}""")]
    [InlineData("""{"purposes":["analytics"],"policyVersion":1,"source":"banner"}""")]
    [InlineData("""{"purposes":"analytics","policyVersion":1,"source":"banner"}""")]
    [InlineData("""{"purposes":{"analytics":true},"policyVersion":"1","source":"banner"}""")]
    [InlineData("""{"purposes":{"analytics":true},"policyVersion":1.5,"source":"banner"}""")]
    [InlineData("""{"purposes":{"analytics":true},"policyVersion":99999999999,"source":"banner"}""")]
    [InlineData("""{"purposes":{"analytics":true},"policyVersion":true,"source":"banner"}""")]
    [InlineData("""{"purposes":{"analytics":true},"policyVersion":NaN,"source":"banner"}""")]
    [InlineData("""{"purposes":{"analytics":true},"policyVersion":1e0,"source":"banner"}""")]
    [InlineData("""{"purposes":{"analytics":true},"policyVersion":1,"source":7}""")]
    [InlineData("""{"purposes":{"analytics":true},"policyVersion":1,"source":"banner"} x""")]
    [InlineData("""{"purposes":{"analytics":true},"policyVersion":1,"source":"banner"}{}""")]
    [InlineData("""{"purposes":{"analytics":true},"policyVersion":1,"source":"banner",}""")]
    [InlineData("""{/* c */"purposes":{"analytics":true},"policyVersion":1,"source":"banner"}""")]
    [InlineData("""{'purposes':{'analytics':true},'policyVersion':1,'source':'banner'}""")]
    [InlineData("""{"purposes":{"analytics":true,"analytics":false},"policyVersion":1,"source":"banner"}""")]
    [InlineData("""{"purposes":{"analytics":true},"policyVersion":1,"policyVersion":1,"source":"banner"}""")]
    public async Task Malformed_consent_json_is_400_invalid_json_and_records_nothing(string body)
    {
        var (store, subject, policy) = await ArrangeAsync();

        var response = await _admin.PutAsync(ConsentsPath(store, subject), ConsentApi.Json(body));

        await response.ShouldBeProblemAsync(HttpStatusCode.BadRequest, "invalid_json");
        await AssertNothingChangedAsync(store, subject, policy);
    }

    [Theory]
    [InlineData("""{"version":2,"status":"active","purposes":{"analytics":{"enabled":true}}""")]
    [InlineData("[]")]
    [InlineData("\"x\"")]
    [InlineData("null")]
    [InlineData("""{"version":"2","status":"active","sellerAttestation":true,"purposes":{"analytics":{"enabled":true}}}""")]
    [InlineData("""{"version":2.5,"status":"active","sellerAttestation":true,"purposes":{"analytics":{"enabled":true}}}""")]
    [InlineData("""{"version":2,"status":1,"sellerAttestation":true,"purposes":{"analytics":{"enabled":true}}}""")]
    [InlineData("""{"version":2,"status":"active","sellerAttestation":"yes","purposes":{"analytics":{"enabled":true}}}""")]
    [InlineData("""{"version":2,"status":"active","sellerAttestation":true,"purposes":{"analytics":{"enabled":"yes"}}}""")]
    [InlineData("""{"version":2,"status":"active","sellerAttestation":true,"purposes":{"analytics":true}}""")]
    [InlineData("""{"version":2,"status":"active","sellerAttestation":true,"purposes":[{"analytics":{"enabled":true}}]}""")]
    [InlineData("""{"version":2,"status":"active","sellerAttestation":true,"purposes":{"analytics":{"enabled":true}}} x""")]
    [InlineData("""{"version":2,"version":3,"status":"active","sellerAttestation":true,"purposes":{"analytics":{"enabled":true}}}""")]
    public async Task Malformed_policy_json_is_400_invalid_json_and_leaves_the_policy_unchanged(string body)
    {
        var (store, subject, policy) = await ArrangeAsync();

        var response = await _admin.PutAsync(PolicyPath(store), ConsentApi.Json(body));

        await response.ShouldBeProblemAsync(HttpStatusCode.BadRequest, "invalid_json");
        await AssertNothingChangedAsync(store, subject, policy);
    }

    [Theory]
    [InlineData("""{"items":[{"subjectId":"u1","purpose":"analytics"}""")]
    [InlineData("[]")]
    [InlineData("""[{"subjectId":"u1","purpose":"analytics"}]""")]
    [InlineData("\"x\"")]
    [InlineData("null")]
    [InlineData("""{"items":{}}""")]
    [InlineData("""{"items":"u1"}""")]
    [InlineData("""{"items":[1]}""")]
    [InlineData("""{"items":[{"subjectId":7,"purpose":"analytics"}]}""")]
    [InlineData("""{"items":[{"subjectId":"u1","purpose":["analytics"]}]}""")]
    [InlineData("""{"items":[{"subjectId":"u1","purpose":"analytics"}],"signals":{"dnt":"1","gpc":false}}""")]
    [InlineData("""{"items":[{"subjectId":"u1","purpose":"analytics"}],"signals":{"dnt":null,"gpc":false}}""")]
    [InlineData("""{"items":[{"subjectId":"u1","purpose":"analytics"}],"signals":true}""")]
    [InlineData("""{"items":[{"subjectId":"u1","purpose":"analytics"}]}{}""")]
    public async Task Malformed_batch_json_is_400_invalid_json(string body)
    {
        var (store, subject, policy) = await ArrangeAsync();

        var response = await _admin.PostAsync(BatchPath(store), ConsentApi.Json(body));

        await response.ShouldBeProblemAsync(HttpStatusCode.BadRequest, "invalid_json");
        await AssertNothingChangedAsync(store, subject, policy);
    }

    [Theory]
    [InlineData("consents")]
    [InlineData("policy")]
    [InlineData("batch")]
    public async Task Bytes_that_are_not_valid_json_text_are_400_invalid_json(string write)
    {
        var (store, subject, policy) = await ArrangeAsync();
        var (method, path, good) = Write(write, store, subject);
        var nested = good[..^1] + ",\"extra\":" + new string('[', 200) + new string(']', 200) + "}";
        var invalidUtf8 = Encoding.UTF8.GetBytes(good.Replace("analytics", "analytics\u0001", StringComparison.Ordinal));
        invalidUtf8[Array.IndexOf(invalidUtf8, (byte)1)] = 0xFF;

        foreach (var bytes in new[] { Encoding.UTF8.GetBytes(nested), invalidUtf8 })
        {
            using var request = new HttpRequestMessage(method, path) { Content = new ByteArrayContent(bytes) };
            request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
            var response = await _admin.SendAsync(request);
            await response.ShouldBeProblemAsync(HttpStatusCode.BadRequest, "invalid_json");
        }

        await AssertNothingChangedAsync(store, subject, policy);
    }

    [Theory]
    [InlineData("")]
    [InlineData("   ")]
    [InlineData("\r\n")]
    public async Task Empty_body_is_400_on_every_write(string body)
    {
        var (store, subject, policy) = await ArrangeAsync();

        foreach (var (method, path) in Writes(store, subject))
        {
            using var request = new HttpRequestMessage(method, path) { Content = ConsentApi.Json(body) };
            var response = await _admin.SendAsync(request);
            await response.ShouldBeProblemAsync(HttpStatusCode.BadRequest, "invalid_json");
        }

        await AssertNothingChangedAsync(store, subject, policy);
    }

    // ---- Content-Type ----

    [Theory]
    [InlineData(null)]
    [InlineData("text/plain")]
    [InlineData("text/html")]
    [InlineData("application/xml")]
    [InlineData("application/x-www-form-urlencoded")]
    [InlineData("application/octet-stream")]
    [InlineData("multipart/form-data; boundary=x")]
    [InlineData("application/jsonx")]
    public async Task A_body_that_is_not_labelled_json_is_415_on_every_write(string? contentType)
    {
        var (store, subject, policy) = await ArrangeAsync();

        foreach (var (method, path, body) in WritesWithGoodBodies(store, subject))
        {
            var content = new ByteArrayContent(Encoding.UTF8.GetBytes(body));
            if (contentType is not null)
            {
                content.Headers.ContentType = MediaTypeHeaderValue.Parse(contentType);
            }

            using var request = new HttpRequestMessage(method, path) { Content = content };
            var response = await _admin.SendAsync(request);
            await response.ShouldBeProblemAsync(HttpStatusCode.UnsupportedMediaType, "unsupported_media_type");
        }

        await AssertNothingChangedAsync(store, subject, policy);
    }

    [Fact]
    public async Task Writes_without_any_body_are_refused_and_change_nothing()
    {
        var (store, subject, policy) = await ArrangeAsync();

        foreach (var (method, path) in Writes(store, subject))
        {
            using var request = new HttpRequestMessage(method, path);
            var response = await _admin.SendAsync(request);
            await response.ShouldBeProblemAsync(HttpStatusCode.UnsupportedMediaType, "unsupported_media_type");
        }

        await AssertNothingChangedAsync(store, subject, policy);
    }

    [Fact]
    public async Task The_good_bodies_used_as_baselines_are_accepted()
    {
        // Guards the tests above: their bodies differ from these in one respect only.
        var (store, subject, _) = await ArrangeAsync();
        foreach (var (method, path, body) in WritesWithGoodBodies(store, subject))
        {
            using var request = new HttpRequestMessage(method, path) { Content = ConsentApi.Json(body) };
            await (await _admin.SendAsync(request)).ShouldBeOkAsync();
        }

        Assert.Equal((true, "granted"), await _admin.DecideAsync(store, subject, "analytics"));
    }

    // ---- Purposes ----

    [Theory]
    [InlineData("?purpose=foo")]
    [InlineData("?purpose=Analytics")]
    [InlineData("?purpose=ANALYTICS")]
    [InlineData("?purpose=analytics%20")]
    [InlineData("?purpose=")]
    [InlineData("?purpose=analytics&purpose=foo")]
    [InlineData("?purpose=affiliate-sharing")]
    [InlineData("?purpose=analytics,cart")]
    public async Task Unknown_purpose_in_the_decisions_query_is_400(string query)
    {
        var (store, subject, _) = await ArrangeAsync();

        var response = await _admin.GetAsync(DecisionsPath(store, subject) + query);

        await response.ShouldBeProblemAsync(HttpStatusCode.BadRequest, "unknown_purpose");
    }

    [Theory]
    [InlineData("")]
    [InlineData("?")]
    [InlineData("?purposes=analytics")]
    [InlineData("?p=analytics")]
    public async Task Missing_purpose_in_the_decisions_query_is_400(string query)
    {
        var (store, subject, _) = await ArrangeAsync();

        var response = await _admin.GetAsync(DecisionsPath(store, subject) + query);

        await response.ShouldBeProblemAsync(HttpStatusCode.BadRequest, "purpose_required");
    }

    [Fact]
    public async Task More_purposes_than_a_check_allows_is_400()
    {
        var (store, subject, _) = await ArrangeAsync();
        var query = "?" + string.Join('&', Enumerable.Repeat("purpose=cart", 33));

        var response = await _admin.GetAsync(DecisionsPath(store, subject) + query);

        await response.ShouldBeProblemAsync(HttpStatusCode.BadRequest, "too_many_purposes");
    }

    [Theory]
    [InlineData("""{"foo":true}""", "unknown_purpose")]
    [InlineData("""{"analytics":true,"foo":false}""", "unknown_purpose")]
    [InlineData("""{"Analytics":true}""", "unknown_purpose")]
    [InlineData("""{"":true}""", "unknown_purpose")]
    [InlineData("""{"necessary":true}""", "purpose_not_consent_based")]
    [InlineData("""{"cart":false}""", "purpose_not_consent_based")]
    [InlineData("""{"analytics":true,"cart":true}""", "purpose_not_consent_based")]
    [InlineData("""{"recommendation":true,"necessary":false}""", "purpose_not_consent_based")]
    public async Task Consent_naming_an_unknown_or_non_consent_purpose_is_400_and_records_nothing(string purposes, string code)
    {
        var (store, subject, policy) = await ArrangeAsync();

        var response = await _admin.PutAsync(ConsentsPath(store, subject),
            ConsentApi.Json($$"""{"purposes":{{purposes}},"policyVersion":1,"source":"banner"}"""));

        await response.ShouldBeProblemAsync(HttpStatusCode.BadRequest, code);
        await AssertNothingChangedAsync(store, subject, policy);
    }

    [Theory]
    [InlineData("""{"foo":{"enabled":true,"materialChange":false}}""")]
    [InlineData("""{"analytics":{"enabled":true,"materialChange":false},"Foo":{"enabled":false}}""")]
    [InlineData("""{"ANALYTICS":{"enabled":false}}""")]
    public async Task Policy_naming_an_unknown_purpose_is_400_and_leaves_the_policy_unchanged(string purposes)
    {
        var (store, subject, policy) = await ArrangeAsync();

        var response = await _admin.PutAsync(PolicyPath(store),
            ConsentApi.Json($$"""{"version":2,"status":"active","sellerAttestation":true,"purposes":{{purposes}}}"""));

        await response.ShouldBeProblemAsync(HttpStatusCode.BadRequest, "unknown_purpose");
        await AssertNothingChangedAsync(store, subject, policy);
    }

    [Theory]
    [InlineData("""{"subjectId":"u1","purpose":"foo"}""")]
    [InlineData("""{"subjectId":"u1","purpose":"Analytics"}""")]
    [InlineData("""{"subjectId":"u1","purpose":""}""")]
    [InlineData("""{"subjectId":"u1","purpose":null}""")]
    [InlineData("""{"subjectId":"u1"}""")]
    public async Task Batch_item_with_an_unknown_purpose_is_400(string item)
    {
        var (store, _, _) = await ArrangeAsync();

        var response = await _admin.PostAsync(BatchPath(store),
            ConsentApi.Json($$"""{"items":[{"subjectId":"u0","purpose":"cart"},{{item}}]}"""));

        await response.ShouldBeProblemAsync(HttpStatusCode.BadRequest, "unknown_purpose");
    }

    // ---- Ids ----

    [Theory]
    [InlineData("a b")]
    [InlineData("a/b")]
    [InlineData("a#b")]
    [InlineData("caf\u00e9")]
    [InlineData("a*b")]
    [InlineData("a@b")]
    [InlineData("a~b")]
    [InlineData("a+b")]
    [InlineData("a%b")]
    [InlineData("a%2Fb")]
    [InlineData("a?b")]
    [InlineData("a\tb")]
    [InlineData("<script>")]
    [InlineData("a'b")]
    [InlineData("\u5e97")]
    [InlineData("a,b")]
    public async Task Ids_with_characters_outside_the_alphabet_are_400_on_every_route(string id)
    {
        var (store, subject, policy) = await ArrangeAsync();
        var encoded = Uri.EscapeDataString(id);

        // The id as a subject, on a store that exists, then as a store.
        foreach (var (method, path, body) in Routes(store, encoded).Where(r => r.Path.Contains("/subjects/", StringComparison.Ordinal)))
        {
            await AssertInvalidIdAsync(method, path, body);
        }

        foreach (var (method, path, body) in Routes(encoded, subject))
        {
            await AssertInvalidIdAsync(method, path, body);
        }

        // The id as a batch item's subject, where it travels in JSON rather than the path.
        var batchItem = new JsonObject
        {
            ["items"] = new JsonArray(new JsonObject { ["subjectId"] = id, ["purpose"] = "analytics" }),
        }.ToJsonString();
        var batch = await _admin.PostAsync(BatchPath(store), ConsentApi.Json(batchItem));
        await batch.ShouldBeProblemAsync(HttpStatusCode.BadRequest, "invalid_id");

        await AssertNothingChangedAsync(store, subject, policy);
    }

    [Fact]
    public async Task Ids_of_129_characters_are_400_on_every_route()
    {
        var (store, subject, policy) = await ArrangeAsync();
        var tooLong = new string('a', 129);

        foreach (var (method, path, body) in Routes(store, tooLong).Where(r => r.Path.Contains("/subjects/", StringComparison.Ordinal)))
        {
            await AssertInvalidIdAsync(method, path, body);
        }

        foreach (var (method, path, body) in Routes(tooLong, subject))
        {
            await AssertInvalidIdAsync(method, path, body);
        }

        var batch = await _admin.PostAsync(BatchPath(store),
            ConsentApi.Json($$"""{"items":[{"subjectId":"{{tooLong}}","purpose":"analytics"}]}"""));
        await batch.ShouldBeProblemAsync(HttpStatusCode.BadRequest, "invalid_id");

        await AssertNothingChangedAsync(store, subject, policy);
    }

    [Fact]
    public async Task Ids_of_exactly_128_characters_are_accepted()
    {
        var store = ("s128-" + Guid.NewGuid().ToString("N")).PadRight(128, 'x');
        var subject = ("u128-" + Guid.NewGuid().ToString("N")).PadRight(128, 'y');
        Assert.Equal(128, store.Length);
        Assert.Equal(128, subject.Length);

        var decisions = await _admin.GetAsync(DecisionsPath(store, subject) + "?purpose=analytics");
        await decisions.ShouldBeOkAsync();
        var body = await decisions.ReadJsonAsync();
        Assert.Equal(store, body["storeId"]!.GetValue<string>());
        Assert.Equal(subject, body["subjectId"]!.GetValue<string>());

        await (await _admin.PublishPolicyAsync(store, 1)).ShouldBeOkAsync();
        await (await _admin.SetConsentAsync(store, subject, "analytics", granted: true)).ShouldBeOkAsync();
        await (await _admin.GetAsync(SubjectPath(store, subject))).ShouldBeOkAsync();
        var batch = await _admin.PostAsync(BatchPath(store),
            ConsentApi.Json($$"""{"items":[{"subjectId":"{{subject}}","purpose":"analytics"}]}"""));
        await batch.ShouldBeOkAsync();
        Assert.Equal("granted", (await batch.ReadJsonAsync())["results"]![0]!["reason"]!.GetValue<string>());
    }

    [Theory]
    [InlineData("anon:abc")]
    [InlineData("A.b_c:d-9")]
    [InlineData("-")]
    [InlineData("_")]
    [InlineData(":")]
    public async Task Ids_made_of_the_allowed_characters_are_accepted(string id)
    {
        var (store, _, _) = await ArrangeAsync();
        // Unique per test run, still made of the allowed characters only.
        var subject = id + Guid.NewGuid().ToString("N")[..8];

        await (await _admin.GetAsync(DecisionsPath(store, subject) + "?purpose=analytics")).ShouldBeOkAsync();
        await (await _admin.SetConsentAsync(store, subject, "analytics", granted: true)).ShouldBeOkAsync();
        var record = await _admin.GetAsync(SubjectPath(store, subject));
        await record.ShouldBeOkAsync();
        Assert.Equal(subject, (await record.ReadJsonAsync())["subjectId"]!.GetValue<string>());
    }

    [Fact]
    public async Task The_literal_anon_abc_is_a_valid_subject_id()
    {
        var (store, _, _) = await ArrangeAsync();

        await (await _admin.GetAsync(DecisionsPath(store, "anon:abc") + "?purpose=analytics")).ShouldBeOkAsync();
        await (await _admin.SetConsentAsync(store, "anon:abc", "analytics", granted: true)).ShouldBeOkAsync();
        Assert.Equal((true, "granted"), await _admin.DecideAsync(store, "anon:abc", "analytics"));
    }

    // ---- Body size ----

    [Theory]
    [InlineData("consents")]
    [InlineData("policy")]
    [InlineData("batch")]
    public async Task Body_of_one_MiB_plus_one_byte_is_413_and_changes_nothing(string write)
    {
        var (store, subject, policy) = await ArrangeAsync();
        var (method, path, body) = Write(write, store, subject);
        var bytes = Padded(body, MaxBodyBytes + 1);

        using var request = new HttpRequestMessage(method, path) { Content = new ByteArrayContent(bytes) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        var response = await _admin.SendAsync(request);

        await response.ShouldBeProblemAsync(HttpStatusCode.RequestEntityTooLarge, "body_too_large");
        await AssertNothingChangedAsync(store, subject, policy);
    }

    [Theory]
    [InlineData("consents", MaxBodyBytes + 1)]
    [InlineData("policy", MaxBodyBytes + 1)]
    [InlineData("batch", MaxBodyBytes + 1)]
    [InlineData("consents", 3 * MaxBodyBytes)]
    public async Task Chunked_body_over_one_MiB_without_content_length_is_413_and_changes_nothing(string write, int size)
    {
        var (store, subject, policy) = await ArrangeAsync();
        var (method, path, body) = Write(write, store, subject);

        using var request = ChunkedRequest(method, path, Padded(body, size));
        var response = await SendStreamingAsync(request);

        await response.ShouldBeProblemAsync(HttpStatusCode.RequestEntityTooLarge, "body_too_large");
        await AssertNothingChangedAsync(store, subject, policy);
    }

    [Theory]
    [InlineData("consents")]
    [InlineData("policy")]
    [InlineData("batch")]
    public async Task Valid_body_of_exactly_one_MiB_is_accepted(string write)
    {
        var (store, subject, _) = await ArrangeAsync();
        var (method, path, body) = Write(write, store, subject);

        using var request = new HttpRequestMessage(method, path) { Content = new ByteArrayContent(Padded(body, MaxBodyBytes)) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        await (await _admin.SendAsync(request)).ShouldBeOkAsync();

        using var chunked = ChunkedRequest(method, path, Padded(body, MaxBodyBytes));
        var response = await SendStreamingAsync(chunked);
        // A second identical policy version is a 409, not a 413: the body was read and understood.
        await (write == "policy" ? response.ShouldBeProblemAsync(HttpStatusCode.Conflict, "policy_version_conflict") : response.ShouldBeOkAsync());
    }

    /// <summary>The routes that read no body: they too refuse one over 1 MiB, before acting.</summary>
    public static TheoryData<string, string, bool> BodylessRoutes => new()
    {
        { "DELETE", "/subjects/{subject}", false },
        { "DELETE", "/subjects/{subject}", true },
        { "POST", "/subjects/{subject}/cancel", false },
        { "POST", "/subjects/{subject}/cancel", true },
        { "GET", "/subjects/{subject}/decisions?purpose=analytics", false },
        { "GET", "/subjects/{subject}/decisions?purpose=analytics", true },
        { "GET", "/policy", true },
    };

    [Theory]
    [MemberData(nameof(BodylessRoutes))]
    public async Task A_route_that_reads_no_body_still_refuses_one_over_one_MiB_and_changes_nothing(string method, string route, bool chunked)
    {
        var (store, subject, policy) = await ArrangeAsync();
        await (await _admin.SetConsentAsync(store, subject, "analytics", true)).ShouldBeOkAsync();
        var path = $"/v1/stores/{store}" + route.Replace("{subject}", subject, StringComparison.Ordinal);
        var body = new byte[MaxBodyBytes + 1];

        HttpResponseMessage response;
        if (chunked)
        {
            using var request = ChunkedRequest(new HttpMethod(method), path, body);
            response = await SendStreamingAsync(request);
        }
        else
        {
            using var request = new HttpRequestMessage(new HttpMethod(method), path) { Content = new ByteArrayContent(body) };
            response = await _admin.SendAsync(request);
        }

        await response.ShouldBeProblemAsync(HttpStatusCode.RequestEntityTooLarge, "body_too_large");
        Assert.Equal((true, "granted"), await _admin.DecideAsync(store, subject, "analytics"));
        var current = await _admin.GetAsync(PolicyPath(store));
        Assert.Equal(policy, await current.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task A_route_that_reads_no_body_accepts_a_small_chunked_one()
    {
        var (store, subject, _) = await ArrangeAsync();
        await (await _admin.SetConsentAsync(store, subject, "analytics", true)).ShouldBeOkAsync();

        using var request = ChunkedRequest(HttpMethod.Delete, SubjectPath(store, subject), new byte[1000]);
        var response = await SendStreamingAsync(request);

        await response.ShouldBeOkAsync(HttpStatusCode.NoContent);
        Assert.Equal((false, "no_consent"), await _admin.DecideAsync(store, subject, "analytics"));
    }

    // ---- Batch shape ----

    [Fact]
    public async Task Batch_of_more_than_10000_items_is_400_batch_too_large()
    {
        var (store, _, _) = await ArrangeAsync();
        var items = new JsonArray(Enumerable.Range(0, 10_001)
            .Select(i => (JsonNode)new JsonObject { ["subjectId"] = $"u{i}", ["purpose"] = "analytics" }).ToArray());

        var response = await _admin.PostAsync(BatchPath(store), ConsentApi.Json(new JsonObject { ["items"] = items }.ToJsonString()));

        await response.ShouldBeProblemAsync(HttpStatusCode.BadRequest, "batch_too_large");
    }

    [Theory]
    [InlineData("""{"items":[null]}""", "invalid_id")]
    [InlineData("""{"items":[{"subjectId":"u1","purpose":"cart"},null]}""", "invalid_id")]
    [InlineData("""{"items":[{"purpose":"cart"}]}""", "invalid_id")]
    [InlineData("""{"items":[{"subjectId":null,"purpose":"cart"}]}""", "invalid_id")]
    [InlineData("""{"items":[{"subjectId":"","purpose":"cart"}]}""", "invalid_id")]
    [InlineData("""{"items":[{"subjectId":"a b","purpose":"cart"}]}""", "invalid_id")]
    [InlineData("""{"items":[{"subjectId":"a/b","purpose":"cart"}]}""", "invalid_id")]
    [InlineData("""{}""", "items_required")]
    [InlineData("""{"items":null}""", "items_required")]
    [InlineData("""{"signals":{"dnt":true,"gpc":true}}""", "items_required")]
    public async Task Batch_with_a_bad_item_or_without_items_is_400(string body, string code)
    {
        var (store, _, _) = await ArrangeAsync();

        var response = await _admin.PostAsync(BatchPath(store), ConsentApi.Json(body));

        await response.ShouldBeProblemAsync(HttpStatusCode.BadRequest, code);
    }

    // ---- Consent fields ----

    [Theory]
    [InlineData("""{"purposes":{"analytics":true},"source":"banner"}""", "policy_version_required")]
    [InlineData("""{"purposes":{"analytics":true},"policyVersion":null,"source":"banner"}""", "policy_version_required")]
    [InlineData("""{"purposes":{"analytics":true},"policyVersion":0,"source":"banner"}""", "policy_version_required")]
    [InlineData("""{"purposes":{"analytics":true},"policyVersion":-1,"source":"banner"}""", "policy_version_required")]
    [InlineData("""{"purposes":{"analytics":true},"policyVersion":-2147483648,"source":"banner"}""", "policy_version_required")]
    [InlineData("""{"purposes":{"analytics":true},"policyVersion":1,"source":"web"}""", "invalid_source")]
    [InlineData("""{"purposes":{"analytics":true},"policyVersion":1,"source":"Banner"}""", "invalid_source")]
    [InlineData("""{"purposes":{"analytics":true},"policyVersion":1,"source":""}""", "invalid_source")]
    [InlineData("""{"purposes":{"analytics":true},"policyVersion":1,"source":null}""", "invalid_source")]
    [InlineData("""{"purposes":{"analytics":true},"policyVersion":1}""", "invalid_source")]
    [InlineData("""{"purposes":{},"policyVersion":1,"source":"banner"}""", "purposes_required")]
    [InlineData("""{"purposes":null,"policyVersion":1,"source":"banner"}""", "purposes_required")]
    [InlineData("""{"policyVersion":1,"source":"banner"}""", "purposes_required")]
    [InlineData("""{}""", "purposes_required")]
    public async Task Consent_with_a_missing_or_invalid_field_is_400_and_records_nothing(string body, string code)
    {
        var (store, subject, policy) = await ArrangeAsync();

        var response = await _admin.PutAsync(ConsentsPath(store, subject), ConsentApi.Json(body));

        await response.ShouldBeProblemAsync(HttpStatusCode.BadRequest, code);
        await AssertNothingChangedAsync(store, subject, policy);
    }

    // ---- Policy fields ----

    [Theory]
    [InlineData("""{"status":"active","sellerAttestation":true,"purposes":{"analytics":{"enabled":true}}}""", "version_required")]
    [InlineData("""{"version":null,"status":"active","sellerAttestation":true,"purposes":{"analytics":{"enabled":true}}}""", "version_required")]
    [InlineData("""{"version":0,"status":"active","sellerAttestation":true,"purposes":{"analytics":{"enabled":true}}}""", "version_required")]
    [InlineData("""{"version":-3,"status":"active","sellerAttestation":true,"purposes":{"analytics":{"enabled":true}}}""", "version_required")]
    [InlineData("""{}""", "version_required")]
    [InlineData("""{"version":2,"status":"paused","sellerAttestation":true,"purposes":{"analytics":{"enabled":true}}}""", "invalid_status")]
    [InlineData("""{"version":2,"status":"Active","sellerAttestation":true,"purposes":{"analytics":{"enabled":true}}}""", "invalid_status")]
    [InlineData("""{"version":2,"status":"","sellerAttestation":true,"purposes":{"analytics":{"enabled":true}}}""", "invalid_status")]
    [InlineData("""{"version":2,"status":"active","sellerAttestation":true,"purposes":{"analytics":{}}}""", "enabled_required")]
    [InlineData("""{"version":2,"status":"active","sellerAttestation":true,"purposes":{"analytics":{"materialChange":true}}}""", "enabled_required")]
    [InlineData("""{"version":2,"status":"active","sellerAttestation":true,"purposes":{"analytics":{"enabled":null}}}""", "enabled_required")]
    [InlineData("""{"version":2,"status":"active","sellerAttestation":true,"purposes":{"analytics":null}}""", "enabled_required")]
    [InlineData("""{"version":2,"status":"active","sellerAttestation":true,"purposes":{"analytics":{"enabled":true},"advertising":{}}}""", "enabled_required")]
    public async Task Policy_with_a_missing_or_invalid_field_is_400_and_leaves_the_policy_unchanged(string body, string code)
    {
        var (store, subject, policy) = await ArrangeAsync();

        var response = await _admin.PutAsync(PolicyPath(store), ConsentApi.Json(body));

        await response.ShouldBeProblemAsync(HttpStatusCode.BadRequest, code);
        await AssertNothingChangedAsync(store, subject, policy);
    }

    // ---- Helpers ----

    /// <summary>A fresh store with policy version 1 (analytics enabled) and a subject never written.</summary>
    private async Task<(string Store, string Subject, string Policy)> ArrangeAsync()
    {
        var store = Unique("bad");
        var subject = Unique("u");
        var published = await _admin.PublishPolicyAsync(store, 1);
        await published.ShouldBeOkAsync();
        var policy = await _admin.GetAsync(PolicyPath(store));
        await policy.ShouldBeOkAsync();
        Assert.Equal((false, "no_consent"), await _admin.DecideAsync(store, subject, "analytics"));
        return (store, subject, await policy.Content.ReadAsStringAsync());
    }

    private async Task AssertNothingChangedAsync(string store, string subject, string policy)
    {
        await (await _admin.GetAsync(SubjectPath(store, subject))).ShouldBeProblemAsync(HttpStatusCode.NotFound, "subject_not_found");
        var current = await _admin.GetAsync(PolicyPath(store));
        await current.ShouldBeOkAsync();
        Assert.Equal(policy, await current.Content.ReadAsStringAsync());
        Assert.Equal((false, "no_consent"), await _admin.DecideAsync(store, subject, "analytics"));
    }

    private async Task AssertInvalidIdAsync(HttpMethod method, string path, string? body)
    {
        using var request = new HttpRequestMessage(method, path);
        if (body is not null)
        {
            request.Content = ConsentApi.Json(body);
        }

        var response = await _admin.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True((int)response.StatusCode < 500, $"{method} {path} answered {(int)response.StatusCode}: {text}");
        await response.ShouldBeProblemAsync(HttpStatusCode.BadRequest, "invalid_id");
    }

    private static IEnumerable<(HttpMethod Method, string Path)> Writes(string store, string subject) =>
        WritesWithGoodBodies(store, subject).Select(w => (w.Method, w.Path));

    private static IEnumerable<(HttpMethod Method, string Path, string Body)> WritesWithGoodBodies(string store, string subject) =>
        new[] { "consents", "policy", "batch" }.Select(w => Write(w, store, subject));

    private static (HttpMethod Method, string Path, string Body) Write(string write, string store, string subject) => write switch
    {
        "consents" => (HttpMethod.Put, ConsentsPath(store, subject), GoodConsent),
        "policy" => (HttpMethod.Put, PolicyPath(store), GoodPolicy),
        "batch" => (HttpMethod.Post, BatchPath(store), $$"""{"items":[{"subjectId":"{{subject}}","purpose":"analytics"}]}"""),
        _ => throw new ArgumentOutOfRangeException(nameof(write), write, null),
    };

    /// <summary>Every /v1 route with the given (already URL-encoded) ids, and a valid body where one is needed.</summary>
    private static IEnumerable<(HttpMethod Method, string Path, string? Body)> Routes(string store, string subject) =>
    [
        (HttpMethod.Get, DecisionsPath(store, subject) + "?purpose=analytics", null),
        (HttpMethod.Put, ConsentsPath(store, subject), GoodConsent),
        (HttpMethod.Get, SubjectPath(store, subject), null),
        (HttpMethod.Post, BatchPath(store), """{"items":[{"subjectId":"u1","purpose":"analytics"}]}"""),
        (HttpMethod.Put, PolicyPath(store), GoodPolicy),
        (HttpMethod.Get, PolicyPath(store), null),
    ];

    /// <summary>The JSON text followed by spaces before its closing brace, to exactly <paramref name="size"/> bytes.</summary>
    private static byte[] Padded(string json, int size)
    {
        Assert.EndsWith("}", json, StringComparison.Ordinal);
        var head = Encoding.UTF8.GetBytes(json[..^1]);
        var bytes = new byte[size];
        head.CopyTo(bytes, 0);
        bytes.AsSpan(head.Length, size - head.Length - 1).Fill((byte)' ');
        bytes[^1] = (byte)'}';
        return bytes;
    }

    /// <summary>A request whose body has no known length, so it travels chunked without Content-Length.</summary>
    private static HttpRequestMessage ChunkedRequest(HttpMethod method, string path, byte[] body)
    {
        var content = new StreamContent(new UnknownLengthStream(body));
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        var request = new HttpRequestMessage(method, path) { Content = content };
        request.Headers.TransferEncodingChunked = true;
        return request;
    }

    /// <summary>
    /// Sends straight to the test server. WebApplicationFactory's own client buffers request bodies (to replay them
    /// on redirects), which would give them a Content-Length; this one streams them as they are.
    /// </summary>
    private async Task<HttpResponseMessage> SendStreamingAsync(HttpRequestMessage request)
    {
        var client = new HttpClient(fixture.Factory.Server.CreateHandler()) { BaseAddress = fixture.Factory.Server.BaseAddress };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", EdgeApiFactory.AdminToken);
        Assert.Null(request.Content!.Headers.ContentLength);
        var response = await client.SendAsync(request);
        Assert.False(request.Content.Headers.Contains("Content-Length"), "the request was sent with a Content-Length");
        Assert.Null(request.Content.Headers.ContentLength);
        return response;
    }

    private static string DecisionsPath(string store, string subject) => $"/v1/stores/{store}/subjects/{subject}/decisions";

    private static string ConsentsPath(string store, string subject) => $"/v1/stores/{store}/subjects/{subject}/consents";

    private static string SubjectPath(string store, string subject) => $"/v1/stores/{store}/subjects/{subject}";

    private static string PolicyPath(string store) => $"/v1/stores/{store}/policy";

    private static string BatchPath(string store) => $"/v1/stores/{store}/decisions/batch";

    private static string Unique(string prefix) => $"{prefix}-{Guid.NewGuid():N}"[..24];

    /// <summary>A readable stream that does not know its length, as a streamed upload does not.</summary>
    private sealed class UnknownLengthStream(byte[] bytes) : Stream
    {
        private readonly MemoryStream _inner = new(bytes, writable: false);

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position
        {
            get => throw new NotSupportedException();
            set => throw new NotSupportedException();
        }

        public override void Flush()
        {
        }

        public override int Read(byte[] buffer, int offset, int count) => _inner.Read(buffer, offset, Math.Min(count, 8192));

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            _inner.ReadAsync(buffer[..Math.Min(buffer.Length, 8192)], cancellationToken);

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                _inner.Dispose();
            }

            base.Dispose(disposing);
        }
    }
}
