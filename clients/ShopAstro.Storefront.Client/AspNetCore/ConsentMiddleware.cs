using System.Security.Cryptography;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace ShopAstro.Storefront.Client.AspNetCore;

/// <summary>
/// For each request (but skipped paths): resolves the shopper's subject id, asks the edge in one call for the
/// purposes the request needs, forwarding the request's own <c>DNT: 1</c> / <c>Sec-GPC: 1</c>, and sets
/// <see cref="IConsentDecisionsFeature"/>. Never fails the request and never fails open: when the edge
/// cannot answer, every purpose but <c>necessary</c> is denied.
/// </summary>
internal sealed partial class ConsentMiddleware
{
    private readonly RequestDelegate _next;
    private readonly ConsentMiddlewareOptions _options;
    private readonly ILogger<ConsentMiddleware> _logger;
    private readonly string _storeId;
    private readonly string[] _purposes;

    public ConsentMiddleware(
        RequestDelegate next, ConsentMiddlewareOptions options, IOptions<ConsentClientOptions> client, ILogger<ConsentMiddleware> logger)
    {
        _next = next;
        _options = options;
        _logger = logger;
        _storeId = options.StoreId ?? client.Value.StoreId
            ?? throw new InvalidOperationException("UseShopAstroConsent needs a store: set ConsentClientOptions.StoreId (ShopAstro:StoreId) or ConsentMiddlewareOptions.StoreId.");
        if (!ConsentIds.IsValid(_storeId))
        {
            throw new InvalidOperationException($"The store id '{_storeId}' is not 1 to 128 characters of A-Z a-z 0-9 . _ : -");
        }

        _purposes = Validated(options.Purposes);
    }

    public async Task InvokeAsync(HttpContext context, ConsentClient client)
    {
        if (_options.SkipPath(context.Request.Path))
        {
            await _next(context);
            return;
        }

        var subjectId = _options.AccountSubjectId(context) ?? AnonymousSubjectId(context);
        var signals = PrivacySignals.From(context.Request);
        var purposes = _options.PurposesForRequest is { } perRequest ? Validated(perRequest(context)) : _purposes;
        context.Features.Set<IConsentDecisionsFeature>(
            new ConsentDecisionsFeature(subjectId, signals, await DecideAsync(context, client, subjectId, purposes, signals)));
        await _next(context);
    }

    private async Task<ConsentDecisions> DecideAsync(
        HttpContext context, ConsentClient client, string subjectId, string[] purposes, PrivacySignals signals)
    {
        if (purposes.Length == 0)
        {
            return new ConsentDecisions(_storeId, subjectId, null, []);
        }

        if (!ConsentIds.IsValid(subjectId))
        {
            LogInvalidSubject(_logger);
            return client.FailClosed(_storeId, subjectId, purposes);
        }

        try
        {
            return await client.GetDecisionsAsync(_storeId, subjectId, purposes, signals, cancellationToken: context.RequestAborted);
        }
        catch (ConsentApiException refused)
        {
            // A 4xx is a configuration error (token, store) rather than an outage; the page still renders, without consent.
            LogRefused(_logger, refused, refused.Status, refused.Code);
            return client.FailClosed(_storeId, subjectId, purposes);
        }
    }

    /// <summary>The visitor's <c>anon:</c> id from its cookie, or a new one with the cookie set on this response.</summary>
    private string AnonymousSubjectId(HttpContext context)
    {
        if (context.Request.Cookies[_options.AnonymousCookieName] is { } existing && ConsentIds.IsAnonymous(existing))
        {
            return existing;
        }

        var subjectId = ConsentIds.AnonymousPrefix + RandomNumberGenerator.GetHexString(32, lowercase: true);
        context.Response.Cookies.Append(_options.AnonymousCookieName, subjectId, new CookieOptions
        {
            HttpOnly = true,
            SameSite = SameSiteMode.Lax,
            Secure = context.Request.IsHttps,
            Path = "/",
            MaxAge = _options.AnonymousCookieLifetime,
            // The id is what the shopper's consent choices are recorded against: without it no choice could be kept.
            IsEssential = true,
        });
        return subjectId;
    }

    private static string[] Validated(IEnumerable<string> purposes)
    {
        var distinct = purposes.Distinct(StringComparer.Ordinal).ToArray();
        foreach (var purpose in distinct)
        {
            if (!ConsentPurposes.IsKnown(purpose))
            {
                throw new InvalidOperationException($"'{purpose}' is not a purpose. Purposes: {string.Join(", ", ConsentPurposes.All)}.");
            }
        }

        return distinct;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "The shopper's subject id is not a valid id (1 to 128 characters of A-Z a-z 0-9 . _ : -); decisions fail closed.")]
    private static partial void LogInvalidSubject(ILogger logger);

    [LoggerMessage(Level = LogLevel.Error, Message = "The consent edge refused the check ({Status} {Code}); decisions fail closed.")]
    private static partial void LogRefused(ILogger logger, Exception exception, int status, string? code);
}
