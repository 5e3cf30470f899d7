using System.Buffers;
using System.Diagnostics;
using System.Text.Json;
using Microsoft.AspNetCore.Http.Features;
using ShopAstro.EdgeApi.Auth;
using ShopAstro.EdgeApi.Endpoints;
using ShopAstro.EdgeApi.Http;
using ShopAstro.EdgeApi.Telemetry;
using ShopAstro.Grains.Interfaces;

namespace ShopAstro.EdgeApi.Decisions;

/// <summary><c>Checks:*</c>.</summary>
public sealed class CheckOptions
{
    public const string Section = "Checks";

    /// <summary>Off: every check goes through the general pipeline (for comparison and diagnosis).</summary>
    public bool FastPath { get; set; } = true;
}

/// <summary>
/// The single check (<c>GET /v1/stores/{storeId}/subjects/{subjectId}/decisions</c>) answered ahead of the general
/// pipeline when nothing about the request needs it: a valid bearer token of a role that may check, covering the
/// store, under its rate limit, plain purposes, no <c>explain</c> and no body. It applies the same rules from the same
/// homes (<see cref="TokenRegistry"/>, <see cref="StoreScopeHandler"/>, <see cref="TokenRateLimits"/>,
/// <see cref="DecisionCache"/>, <see cref="PrivacySignals"/>) without the per-request objects of authentication,
/// authorization, rate limiting and parameter binding. Anything else (an error to answer, a percent-encoded query,
/// an explanation) falls through, before the token's permit is taken, to the general pipeline, which answers it.
/// </summary>
public sealed class CheckFastPath(
    RequestDelegate next, TokenRegistry tokens, TokenRateLimits limits, DecisionCache cache, EdgeMetrics metrics,
    EndpointDataSource endpoints, Microsoft.Extensions.Options.IOptions<CheckOptions> options)
{
    private const string Prefix = "/v1/stores/";
    private const string Subjects = "/subjects/";
    private const string Suffix = "/decisions";
    private const string ContentType = "application/json; charset=utf-8";

    [ThreadStatic]
    private static ResponseBuffer? t_buffer;

    private readonly bool _enabled = options.Value.FastPath;
    private Endpoint? _endpoint;

    public Task InvokeAsync(HttpContext context)
    {
        if (!_enabled || !HttpMethods.IsGet(context.Request.Method) || MayHaveBody(context.Request) || !TryParse(context, out var check))
        {
            return next(context);
        }

        if (limits.For(check.Grant.Id) is { } bucket && !bucket.TryTake())
        {
            return next(context);
        }

        // Telemetry names the route as if routing had matched it.
        context.SetEndpoint(_endpoint ??= FindEndpoint());
        var signals = PrivacySignals.From(context.Request);
        var decided = cache.DecideAsync(check.StoreId, check.SubjectId, check.Purposes, signals);
        return decided.IsCompletedSuccessfully
            ? Answer(context, check, decided.Result)
            : AnswerAsync(context, check, decided);
    }

    private async Task AnswerAsync(HttpContext context, Check check, ValueTask<DecisionSet> decided) =>
        await Answer(context, check, await decided);

    private Task Answer(HttpContext context, Check check, DecisionSet result)
    {
        metrics.Decided(result.Decisions, "check", check.StartedAt);
        var body = (t_buffer ??= new ResponseBuffer()).Write(check.StoreId, check.SubjectId, result);
        var response = context.Response;
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = ContentType;
        response.ContentLength = body.Length;
        response.BodyWriter.Write(body);
        return Task.CompletedTask;
    }

    /// <summary>A GET that carries a body is left to the general pipeline, which holds every route to the body limit.</summary>
    private static bool MayHaveBody(HttpRequest request) =>
        request.ContentLength is > 0
        || (request.ContentLength is null && request.HttpContext.Features.Get<IHttpRequestBodyDetectionFeature>()?.CanHaveBody != false);

    /// <summary>The request, if this path can answer it; false sends it to the general pipeline.</summary>
    private bool TryParse(HttpContext context, out Check check)
    {
        check = default;
        var startedAt = Stopwatch.GetTimestamp();
        var path = context.Request.Path.Value.AsSpan();
        if (!path.StartsWith(Prefix, StringComparison.Ordinal) || !path.EndsWith(Suffix, StringComparison.Ordinal))
        {
            return false;
        }

        var middle = path[Prefix.Length..^Suffix.Length];
        var split = middle.IndexOf(Subjects, StringComparison.Ordinal);
        if (split < 0)
        {
            return false;
        }

        var storeId = middle[..split];
        var subjectId = middle[(split + Subjects.Length)..];
        if (!Ids.IsValid(storeId) || !Ids.IsValid(subjectId))
        {
            return false;
        }

        if (tokens.Find(context, BearerTokenHandler.FromHeader(context.Request.Headers.Authorization)) is not { } grant
            || !grant.HasAnyRole(EdgeRoles.StorefrontAndUp) || !grant.Covers(storeId)
            || !TryParsePurposes(context.Request.QueryString.Value, out var purposes))
        {
            return false;
        }

        check = new Check(grant, storeId.ToString(), subjectId.ToString(), purposes, startedAt);
        return true;
    }

    /// <summary>
    /// <c>purpose=a&amp;purpose=b</c> as the general endpoint reads it; anything it would refuse or read differently
    /// (no purpose, too many, an unknown one, <c>explain</c>, percent-encoding or <c>+</c>); keys match
    /// whatever their case, as in the request's query collection is left to it.
    /// </summary>
    private static bool TryParsePurposes(string? query, out Purpose[] purposes)
    {
        purposes = [];
        if (string.IsNullOrEmpty(query) || query[0] != '?' || query.AsSpan().IndexOfAny('%', '+') >= 0)
        {
            return false;
        }

        Span<Purpose> found = stackalloc Purpose[DecisionEndpoints.MaxPurposesPerCheck];
        var count = 0;
        foreach (var range in query.AsSpan(1).Split('&'))
        {
            var pair = query.AsSpan(1)[range];
            if (pair.IsEmpty)
            {
                continue;
            }

            var equals = pair.IndexOf('=');
            var key = equals < 0 ? pair : pair[..equals];
            if (key.Equals(DecisionEndpoints.ExplainKey, StringComparison.OrdinalIgnoreCase))
            {
                return false;
            }

            if (!key.Equals(DecisionEndpoints.PurposeKey, StringComparison.OrdinalIgnoreCase))
            {
                continue;
            }

            if (count == found.Length || equals < 0 || !Purposes.TryParse(pair[(equals + 1)..], out found[count]))
            {
                return false;
            }

            count++;
        }

        if (count == 0)
        {
            return false;
        }

        purposes = found[..count].ToArray();
        return true;
    }

    private Endpoint FindEndpoint() =>
        endpoints.Endpoints.Single(e => e.Metadata.GetMetadata<IEndpointNameMetadata>()?.EndpointName == DecisionEndpoints.CheckName);

    private readonly record struct Check(TokenGrant Grant, string StoreId, string SubjectId, Purpose[] Purposes, long StartedAt);

    /// <summary>
    /// One per thread: the response is written here first, so that it goes out with its length in one write. It is
    /// <see cref="DecisionResponse"/> as the general endpoint serializes it, written field by field rather than
    /// through the contract's objects (a test holds the two byte for byte).
    /// </summary>
    private sealed class ResponseBuffer
    {
        private static readonly JsonEncodedText StoreIdName = JsonEncodedText.Encode("storeId");
        private static readonly JsonEncodedText PolicyVersionName = JsonEncodedText.Encode("policyVersion");
        private static readonly JsonEncodedText DecisionsName = JsonEncodedText.Encode("decisions");

        private readonly ArrayBufferWriter<byte> _bytes = new(512);
        private readonly Utf8JsonWriter _writer;

        public ResponseBuffer() => _writer = new Utf8JsonWriter(_bytes, new JsonWriterOptions { SkipValidation = true });

        public ReadOnlySpan<byte> Write(string storeId, string subjectId, DecisionSet result)
        {
            _bytes.ResetWrittenCount();
            _writer.Reset(_bytes);
            _writer.WriteStartObject();
            _writer.WriteString(StoreIdName, storeId);
            _writer.WriteString(DecisionJson.SubjectIdName, subjectId);
            if (result.PolicyVersion is { } version)
            {
                _writer.WriteNumber(PolicyVersionName, version);
            }
            else
            {
                _writer.WriteNull(PolicyVersionName);
            }

            _writer.WriteStartArray(DecisionsName);
            foreach (var decision in result.Decisions)
            {
                _writer.WriteStartObject();
                DecisionJson.WriteFields(_writer, decision);
                _writer.WriteEndObject();
            }

            _writer.WriteEndArray();
            _writer.WriteEndObject();
            _writer.Flush();
            return _bytes.WrittenSpan;
        }
    }
}
