using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace ShopAstro.Storefront.Client;

/// <summary>
/// The edge API's contract for a storefront server, as a typed <see cref="HttpClient"/>
/// (<c>services.AddShopAstroConsent(...)</c>). Errors surface as <see cref="ConsentApiException"/>; decisions
/// fail closed when the edge cannot be reached (<see cref="ConsentClientOptions.WhenUnavailable"/>).
/// </summary>
public sealed partial class ConsentClient
{
    private static readonly MediaTypeHeaderValue _json = new("application/json") { CharSet = "utf-8" };
    private readonly HttpClient _http;
    private readonly ConsentClientOptions _options;
    private readonly ILogger _logger;
    private readonly Uri _baseAddress;

    public ConsentClient(HttpClient http, IOptions<ConsentClientOptions> options, ILogger<ConsentClient>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(http);
        ArgumentNullException.ThrowIfNull(options);
        _http = http;
        _options = options.Value;
        _logger = logger ?? (ILogger)NullLogger.Instance;
        var baseAddress = _options.BaseAddress ?? http.BaseAddress
            ?? throw new InvalidOperationException("ConsentClientOptions.BaseAddress is not set: the edge API's root, e.g. http://localhost:5080/.");
        // A base of http://host/edge would lose "edge" when combined with a relative path.
        _baseAddress = baseAddress.AbsoluteUri.EndsWith('/') ? baseAddress : new Uri(baseAddress.AbsoluteUri + "/");
    }

    /// <summary>The store configured for this storefront (<see cref="ConsentClientOptions.StoreId"/>).</summary>
    public string? StoreId => _options.StoreId;

    /// <summary>
    /// Decides each purpose for one shopper in one call. <paramref name="signals"/> are the shopper's own
    /// <c>DNT</c> / <c>Sec-GPC</c> (<see cref="PrivacySignals.From"/>). When the edge cannot be reached, times out
    /// or fails (5xx), the answer is the fail-closed set (<see cref="ConsentDecisions.Unavailable"/>), unless
    /// configured to throw. A 4xx (a bad id, an unknown purpose, a token of another store) throws.
    /// </summary>
    public async Task<ConsentDecisions> GetDecisionsAsync(
        string storeId, string subjectId, IEnumerable<string> purposes, PrivacySignals signals = default, bool explain = false,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(purposes);
        var asked = purposes.ToArray();
        if (asked.Length == 0)
        {
            throw new ArgumentException("Name at least one purpose.", nameof(purposes));
        }

        var query = new StringBuilder();
        foreach (var purpose in asked)
        {
            query.Append(query.Length == 0 ? '?' : '&').Append("purpose=").Append(Uri.EscapeDataString(purpose));
        }

        if (explain)
        {
            query.Append("&explain=true");
        }

        try
        {
            return await SendAsync(HttpMethod.Get, $"{Subject(storeId, subjectId)}/decisions{query}", null, signals,
                ConsentJsonContext.Default.ConsentDecisions, cancellationToken);
        }
        catch (ConsentApiException unavailable) when (unavailable.IsUnavailable && _options.WhenUnavailable != UnavailableBehavior.Throw)
        {
            LogFailClosed(_logger, unavailable.Status, unavailable.Code, unavailable.Detail);
            return FailClosed(storeId, subjectId, asked);
        }
    }

    /// <summary>
    /// Decides up to 10,000 (subject, purpose) items for a pipeline; <paramref name="signals"/> apply to all.
    /// Results come in item order. Fails closed like <see cref="GetDecisionsAsync"/>.
    /// </summary>
    public async Task<IReadOnlyList<BatchDecisionResult>> DecideBatchAsync(
        string storeId, IEnumerable<BatchDecisionItem> items, PrivacySignals signals = default, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(items);
        var request = new BatchDecisionRequest(items.ToArray(), signals);
        try
        {
            var response = await SendAsync(HttpMethod.Post, $"{Store(storeId)}/decisions/batch",
                JsonContent.Create(request, ConsentJsonContext.Default.BatchDecisionRequest, _json), default,
                ConsentJsonContext.Default.BatchDecisionResponse, cancellationToken);
            return response.Results;
        }
        catch (ConsentApiException unavailable) when (unavailable.IsUnavailable && _options.WhenUnavailable != UnavailableBehavior.Throw)
        {
            LogFailClosed(_logger, unavailable.Status, unavailable.Code, unavailable.Detail);
            return request.Items.Select(item =>
            {
                var decision = FailClosed(item.Purpose);
                return new BatchDecisionResult(item.SubjectId, item.Purpose, decision.Allowed, decision.Reason);
            }).ToArray();
        }
    }

    /// <summary>
    /// Records the shopper's choices (<c>necessary</c> and <c>cart</c> are not consent-based: naming them is a
    /// 400). <paramref name="signals"/> are the shopper's own, recorded with each choice. Answers the subject
    /// record once the change is durable.
    /// </summary>
    public Task<SubjectRecord> SetConsentsAsync(
        string storeId, string subjectId, IDictionary<string, bool> purposes, int policyVersion, string source,
        PrivacySignals signals = default, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(purposes);
        ArgumentException.ThrowIfNullOrEmpty(source);
        var body = new ConsentWriteRequest(new Dictionary<string, bool>(purposes, StringComparer.Ordinal), policyVersion, source);
        return SendAsync(HttpMethod.Put, $"{Subject(storeId, subjectId)}/consents",
            JsonContent.Create(body, ConsentJsonContext.Default.ConsentWriteRequest, _json), signals,
            ConsentJsonContext.Default.SubjectRecord, cancellationToken);
    }

    /// <summary>The subject record with every receipt (access request; a seller's token); null for a subject never written.</summary>
    public Task<SubjectRecord?> GetSubjectAsync(string storeId, string subjectId, CancellationToken cancellationToken = default) =>
        SendOrNullAsync(Subject(storeId, subjectId), ConsentJsonContext.Default.SubjectRecord, cancellationToken);

    /// <summary>Deletion: the data is removed, receipts kept only anonymised (a seller's token).</summary>
    public Task DeleteSubjectAsync(string storeId, string subjectId, CancellationToken cancellationToken = default) =>
        SendAsync(HttpMethod.Delete, Subject(storeId, subjectId), null, cancellationToken);

    /// <summary>Account cancellation: irreversible (a seller's token).</summary>
    public Task CancelAsync(string storeId, string subjectId, CancellationToken cancellationToken = default) =>
        SendAsync(HttpMethod.Post, $"{Subject(storeId, subjectId)}/cancel", null, cancellationToken);

    /// <summary>
    /// Marks the subject a minor: every check but necessary answers <c>minor</c>. Lifting the flag
    /// (<paramref name="minor"/> false) takes a seller's or an admin's token; a storefront's gets 403.
    /// </summary>
    public Task SetMinorAsync(string storeId, string subjectId, bool minor = true, CancellationToken cancellationToken = default) =>
        SendAsync(HttpMethod.Put, $"{Subject(storeId, subjectId)}/age",
            JsonContent.Create(new AgeRequest(minor), ConsentJsonContext.Default.AgeRequest, _json), cancellationToken);

    /// <summary>
    /// After a login: carries the anonymous visitor's choices (<c>anon:...</c>) over where the account has none
    /// of its own, then deletes the visitor. Answers the account's merged record.
    /// </summary>
    public Task<SubjectRecord> LinkAsync(string storeId, string accountId, string anonymousId, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(anonymousId);
        return SendAsync(HttpMethod.Post, $"{Subject(storeId, accountId)}/link",
            JsonContent.Create(new LinkRequest(anonymousId), ConsentJsonContext.Default.LinkRequest, _json), default,
            ConsentJsonContext.Default.SubjectRecord, cancellationToken);
    }

    /// <summary>The store's current policy (its version is what a banner's choice is given under); null when none is published.</summary>
    public Task<StorePolicy?> GetPolicyAsync(string storeId, CancellationToken cancellationToken = default) =>
        SendOrNullAsync($"{Store(storeId)}/policy", ConsentJsonContext.Default.StorePolicy, cancellationToken);

    /// <summary>The decisions of an unavailable edge: denied, but for what no check could deny (<c>necessary</c>).</summary>
    internal ConsentDecisions FailClosed(string storeId, string subjectId, IEnumerable<string> purposes) =>
        new(storeId, subjectId, null, purposes.Select(FailClosed).ToArray()) { Unavailable = true };

    private ConsentDecision FailClosed(string purpose) => purpose switch
    {
        ConsentPurposes.Necessary => new ConsentDecision(purpose, true, ConsentReasons.Necessary),
        ConsentPurposes.Cart when _options.WhenUnavailable == UnavailableBehavior.DenyConsentBased =>
            new ConsentDecision(purpose, true, ConsentReasons.Contract),
        _ => new ConsentDecision(purpose, false, ConsentReasons.Unavailable),
    };

    private static string Store(string storeId)
    {
        ArgumentException.ThrowIfNullOrEmpty(storeId);
        return $"v1/stores/{Uri.EscapeDataString(storeId)}";
    }

    private static string Subject(string storeId, string subjectId)
    {
        ArgumentException.ThrowIfNullOrEmpty(subjectId);
        return $"{Store(storeId)}/subjects/{Uri.EscapeDataString(subjectId)}";
    }

    private async Task<T?> SendOrNullAsync<T>(string path, JsonTypeInfo<T> answer, CancellationToken cancellationToken)
        where T : class
    {
        try
        {
            return await SendAsync(HttpMethod.Get, path, null, default, answer, cancellationToken);
        }
        catch (ConsentApiException notFound) when (notFound.Status == (int)HttpStatusCode.NotFound)
        {
            return null;
        }
    }

    private async Task SendAsync(HttpMethod method, string path, HttpContent? content, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_options.Timeout);
        using var _ = await SendCoreAsync(method, path, content, default, timeout.Token, cancellationToken);
    }

    private async Task<T> SendAsync<T>(
        HttpMethod method, string path, HttpContent? content, PrivacySignals signals, JsonTypeInfo<T> answer, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_options.Timeout);
        using var response = await SendCoreAsync(method, path, content, signals, timeout.Token, cancellationToken);
        try
        {
            return await response.Content.ReadFromJsonAsync(answer, timeout.Token)
                ?? throw new JsonException("The body is null.");
        }
        catch (Exception invalid) when (invalid is JsonException or NotSupportedException)
        {
            throw new ConsentApiException(502, "invalid_response", "The consent edge's answer could not be read.", invalid.Message,
                innerException: invalid);
        }
        catch (OperationCanceledException slow) when (!cancellationToken.IsCancellationRequested)
        {
            throw TimedOut(slow);
        }
        catch (Exception broken) when (broken is HttpRequestException or IOException)
        {
            throw ConsentApiException.Unreachable(broken);
        }
    }

    /// <summary>Sends the request; answers a successful response or throws <see cref="ConsentApiException"/>.</summary>
    private async Task<HttpResponseMessage> SendCoreAsync(
        HttpMethod method, string path, HttpContent? content, PrivacySignals signals, CancellationToken timeout, CancellationToken caller)
    {
        using var request = new HttpRequestMessage(method, new Uri(_baseAddress, path)) { Content = content };
        if (!string.IsNullOrEmpty(_options.Token))
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", _options.Token);
        }

        request.Headers.Accept.ParseAdd("application/json");
        signals.ApplyTo(request);

        HttpResponseMessage response;
        try
        {
            response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout);
        }
        catch (OperationCanceledException slow) when (!caller.IsCancellationRequested)
        {
            throw TimedOut(slow);
        }
        catch (HttpRequestException unreachable)
        {
            throw ConsentApiException.Unreachable(unreachable);
        }

        if (response.IsSuccessStatusCode)
        {
            return response;
        }

        using (response)
        {
            throw await ProblemAsync(response, timeout);
        }
    }

    private ConsentApiException TimedOut(OperationCanceledException cause) =>
        ConsentApiException.Unreachable(new TimeoutException($"The consent edge did not answer within {_options.Timeout}.", cause));

    private static async Task<ConsentApiException> ProblemAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        var status = (int)response.StatusCode;
        ProblemBody? problem = null;
        if (response.Content.Headers.ContentType?.MediaType is "application/problem+json" or "application/json")
        {
            try
            {
                problem = await response.Content.ReadFromJsonAsync(ConsentJsonContext.Default.ProblemBody, cancellationToken);
            }
            catch (Exception unreadable) when (unreadable is JsonException or HttpRequestException or OperationCanceledException)
            {
                // The status still says what happened; the body was not a problem we can read.
            }
        }

        return new ConsentApiException(
            status, problem?.Code, problem?.Title ?? response.ReasonPhrase, problem?.Detail, problem?.Type);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "The consent edge is unavailable ({Status} {Code}: {Detail}); decisions fail closed.")]
    private static partial void LogFailClosed(ILogger logger, int status, string? code, string? detail);
}
