namespace ShopAstro.EdgeApi.OpenApi;

/// <summary>
/// The examples of the main calls in the OpenAPI document, as the service answers them in the README's walk-through
/// and the README's sections beside it (Redocly's lint checks each against its schema).
/// </summary>
public static class ApiExamples
{
    public const string Decisions =
        """{"storeId":"s1","subjectId":"u1","policyVersion":1,"decisions":[{"purpose":"analytics","allowed":true,"reason":"granted"},{"purpose":"cart","allowed":true,"reason":"contract"}]}""";

    public const string BatchRequest =
        """{"items":[{"subjectId":"u1","purpose":"recommendation"},{"subjectId":"u2","purpose":"recommendation"}],"signals":{"dnt":false,"gpc":false}}""";

    public const string BatchResponse =
        """{"results":[{"subjectId":"u1","purpose":"recommendation","allowed":false,"reason":"no_consent"},{"subjectId":"u2","purpose":"recommendation","allowed":false,"reason":"no_consent"}]}""";

    public const string ConsentRequest = """{"purposes":{"analytics":true},"policyVersion":1,"source":"banner"}""";

    public const string SubjectRecord =
        """
        {"storeId":"s1","subjectId":"u1","status":"active",
         "consents":{"analytics":{"granted":true,"policyVersion":1,"at":"2026-11-27T09:00:00.123Z","source":"banner","dnt":false,"gpc":false}},
         "receipts":[{"receiptId":"5f0c1d2e3a4b4c5d8e9f0a1b2c3d4e5f","event":"consent","purpose":"analytics","granted":true,"policyVersion":1,
                      "source":"banner","dnt":false,"gpc":false,"at":"2026-11-27T09:00:00.123Z",
                      "previousHash":"0000000000000000000000000000000000000000000000000000000000000000",
                      "hash":"9b1c3f2a7d8e4b6c5a0f1e2d3c4b5a69788796a5b4c3d2e1f0a9b8c7d6e5f4a3"}],
         "receiptChain":{"algorithm":"sha256(previousHash|receiptId|purpose|granted(1/0)|policyVersion|source|dnt(1/0)|gpc(1/0)|at(unix ms)|linked) for event consent, ...",
                         "genesis":"0000000000000000000000000000000000000000000000000000000000000000","valid":true,"firstBrokenIndex":null}}
        """;

    public const string PolicyRequest =
        """{"version":1,"status":"active","sellerAttestation":true,"purposes":{"analytics":{"enabled":true,"materialChange":false},"recommendation":{"enabled":true,"materialChange":false}}}""";

    public const string PolicyResponse =
        """
        {"storeId":"s1","version":1,"status":"active","sellerAttestation":true,
         "purposes":{"analytics":{"enabled":true,"materialChange":false,"reconsentSinceVersion":null},
                     "recommendation":{"enabled":true,"materialChange":false,"reconsentSinceVersion":null}},
         "publishedAt":"2026-11-27T08:00:00.000Z","effectiveAt":"2026-11-27T08:00:00.000Z","upcoming":[]}
        """;

    public const string RegisterRequest =
        """{"subjectId":"u1","type":"deletion","receivedAt":"2026-11-27T09:00:00Z","identityVerification":{"method":"sms_code","verifiedAt":"2026-11-27T09:05:00Z"}}""";

    public const string RequestResponse =
        """
        {"id":"7c9e6679742540de944be07fc1f90ae7","subjectId":"u1","type":"deletion","status":"open","overdue":false,
         "receivedAt":"2026-11-27T09:00:00Z","dueAt":"2026-12-18T15:59:59Z","completedAt":null,"dueAtProvisional":false,
         "repeat":false,"repeatOf":null,"identityVerification":{"method":"sms_code","verifiedAt":"2026-11-27T09:05:00Z"},
         "rejectedAt":null,"rejectionGround":null}
        """;

    public const string Stats =
        """
        {"storeId":"s1","at":"2026-12-07T11:54:35.166Z","checks":4,"grants":1,"withdrawals":0,
         "purposes":{"cart":{"checks":1,"allowed":1,"grants":0,"withdrawals":0,"granted":0,"withdrawn":0,"optInRate":null},
                     "analytics":{"checks":1,"allowed":1,"grants":1,"withdrawals":0,"granted":1,"withdrawn":0,"optInRate":1},
                     "recommendation":{"checks":2,"allowed":0,"grants":0,"withdrawals":0,"granted":0,"withdrawn":0,"optInRate":null},
                     "advertising":{"checks":0,"allowed":0,"grants":0,"withdrawals":0,"granted":0,"withdrawn":0,"optInRate":null},
                     "affiliate_sharing":{"checks":0,"allowed":0,"grants":0,"withdrawals":0,"granted":0,"withdrawn":0,"optInRate":null}}}
        """;

    public const string PreviewRequest =
        """{"version":2,"status":"active","sellerAttestation":true,"purposes":{"analytics":{"enabled":true,"materialChange":true},"recommendation":{"enabled":true,"materialChange":false}}}""";

    public const string PreviewResponse =
        """
        {"storeId":"s1","currentVersion":1,
         "draft":{"storeId":"s1","version":2,"status":"active","sellerAttestation":true,
                  "purposes":{"analytics":{"enabled":true,"materialChange":true,"reconsentSinceVersion":2},
                              "recommendation":{"enabled":true,"materialChange":false,"reconsentSinceVersion":null}},
                  "publishedAt":"2026-12-07T11:54:34.380Z","effectiveAt":"2026-12-07T11:54:34.380Z"},
         "subjectsWithRecord":1,
         "purposes":{"analytics":{"needReconsent":1,"newlyNeedReconsent":1,"loseGrant":0},
                     "recommendation":{"needReconsent":0,"newlyNeedReconsent":0,"loseGrant":0},
                     "advertising":{"needReconsent":0,"newlyNeedReconsent":0,"loseGrant":0},
                     "affiliate_sharing":{"needReconsent":0,"newlyNeedReconsent":0,"loseGrant":0}},
         "durationMs":15.9}
        """;

    public const string Aggregates =
        """
        {"storeId":"s1","minimumGroupSize":10,"days":[{"date":"2026-12-06","purposes":{
          "analytics":{"grants":{"value":30,"suppressed":false},"withdrawals":{"value":null,"suppressed":true},"optedIn":{"value":null,"suppressed":true}},
          "recommendation":{"grants":{"value":12,"suppressed":false},"withdrawals":{"value":11,"suppressed":false},"optedIn":{"value":250,"suppressed":false}},
          "advertising":{"grants":{"value":null,"suppressed":true},"withdrawals":{"value":null,"suppressed":true},"optedIn":{"value":null,"suppressed":true}},
          "affiliate_sharing":{"grants":{"value":null,"suppressed":true},"withdrawals":{"value":null,"suppressed":true},"optedIn":{"value":null,"suppressed":true}}}}]}
        """;

    public const string DownstreamRequest = """{"url":"https://crm.example.com/hooks/consent","secret":"at least 16 characters"}""";

    public const string DownstreamResponse =
        """{"id":"01a2505b16d17429bfc384fae0b0b847","url":"https://crm.example.com/hooks/consent","createdAt":"2026-12-07T11:54:36.625Z"}""";

    public const string Propagation =
        """
        {"storeId":"s1","systems":[{"id":"01a2505b16d17429bfc384fae0b0b847","url":"https://crm.example.com/hooks/consent",
          "pending":0,"delivered":42,"failed":0,"oldestPendingAgeSeconds":null,
          "latency":{"count":42,"lastMs":3,"meanMs":4.1,"p50Ms":3,"p99Ms":12,"lastAcknowledgedAt":"2026-12-07T12:00:01.000Z"},"lastError":null}]}
        """;
}
