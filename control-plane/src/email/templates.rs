//! The messages the control plane sends, in English and Simplified Chinese.
//! Each is written once as structured content and rendered both as plain
//! text and as simple, inline-styled HTML (what mail clients display).

use crate::developers::Language;

/// A message to render, with the links it carries.
#[derive(Debug, Clone, Copy)]
pub enum Template<'a> {
    /// After sign-up (and on resend): confirm the address.
    Verification {
        /// `{portal}/verify-email?token=…`
        link: &'a str,
    },
    /// A password reset was requested.
    PasswordReset {
        /// `{portal}/reset-password?token=…`
        link: &'a str,
    },
    /// The address was verified.
    Welcome {
        /// The portal's sign-in page.
        login: &'a str,
    },
    /// Someone tried to register an address that already has an account.
    AlreadyRegistered {
        /// The portal's sign-in page.
        login: &'a str,
        /// The portal's forgotten-password page.
        reset: &'a str,
    },
    /// A webhook endpoint was disabled automatically.
    WebhookDisabled {
        /// The endpoint's URL (the message's "link").
        url: &'a str,
        /// `we_…`
        endpoint_id: &'a str,
        /// `gone` (it answered 410) or `failing` (it failed for too long).
        reason: &'a str,
    },
    /// Usage reached a threshold of the plan's allowance or a key's budget,
    /// or the credit balance ran low.
    UsageAlert {
        /// `allowance`, `key_budget_monthly`, `key_budget_total`, `balance_low`, `balance_empty`.
        kind: &'a str,
        /// 50, 80 or 100 (percent), or the balance threshold in cents.
        threshold: i64,
        /// The plan's name, or the key's name.
        subject: &'a str,
        /// The portal's billing page.
        link: &'a str,
    },
}

impl Template<'_> {
    /// Stored kind (the outbox's `kind` column).
    pub fn kind(&self) -> &'static str {
        match self {
            Template::Verification { .. } => "verification",
            Template::PasswordReset { .. } => "password_reset",
            Template::Welcome { .. } => "welcome",
            Template::AlreadyRegistered { .. } => "already_registered",
            Template::WebhookDisabled { .. } => "webhook_disabled",
            Template::UsageAlert { .. } => "usage_alert",
        }
    }

    /// The link that matters, for the development outbox's log line.
    pub fn link(&self) -> &str {
        match self {
            Template::Verification { link } | Template::PasswordReset { link } => link,
            Template::Welcome { login } | Template::AlreadyRegistered { login, .. } => login,
            Template::WebhookDisabled { url, .. } => url,
            Template::UsageAlert { link, .. } => link,
        }
    }
}

/// A rendered message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// Subject line.
    pub subject: String,
    /// Plain-text body.
    pub text: String,
    /// HTML body.
    pub html: String,
}

/// What a message says, before it is given a format.
struct Content {
    subject: String,
    heading: String,
    greeting: String,
    paragraphs: Vec<String>,
    action: Option<(String, String)>,
    after: Vec<String>,
    signature: &'static str,
    fallback_hint: &'static str,
}

/// Renders `template` for a person called `name` in `language`.
pub fn render(template: &Template<'_>, language: Language, name: &str) -> Rendered {
    let content = match language {
        Language::En => english(template, name),
        Language::ZhCn => chinese(template, name),
    };
    Rendered {
        subject: content.subject.clone(),
        text: to_text(&content),
        html: to_html(&content, language),
    }
}

fn english(template: &Template<'_>, name: &str) -> Content {
    let greeting = format!("Hello {name},");
    let base = |subject: &str, heading: &str| Content {
        subject: subject.into(),
        heading: heading.into(),
        greeting: greeting.clone(),
        paragraphs: Vec::new(),
        action: None,
        after: Vec::new(),
        signature: "— The AI Hub team",
        fallback_hint: "If the button does not work, copy this address into your browser:",
    };
    match template {
        Template::Verification { link } => Content {
            paragraphs: vec![
                "Thanks for signing up for AI Hub. Please confirm that this is your email address."
                    .into(),
            ],
            action: Some(("Verify email address".into(), (*link).into())),
            after: vec![
                "This link is valid for 24 hours and works once. If you did not create an AI Hub account, you can ignore this message."
                    .into(),
            ],
            ..base("Verify your email address for AI Hub", "Confirm your email address")
        },
        Template::PasswordReset { link } => Content {
            paragraphs: vec![
                "We received a request to reset the password of your AI Hub account.".into(),
            ],
            action: Some(("Choose a new password".into(), (*link).into())),
            after: vec![
                "This link is valid for 1 hour and works once. Setting a new password signs you out everywhere. If you did not ask for this, ignore this message: your password stays as it is."
                    .into(),
            ],
            ..base("Reset your AI Hub password", "Reset your password")
        },
        Template::Welcome { login } => Content {
            paragraphs: vec![
                "Your email address is verified and your AI Hub account is ready.".into(),
                "Sign in to the portal to create an API key, then point your OpenAI SDK's base URL at AI Hub."
                    .into(),
            ],
            action: Some(("Open the portal".into(), (*login).into())),
            ..base("Welcome to AI Hub", "Welcome to AI Hub")
        },
        Template::AlreadyRegistered { login, reset } => Content {
            paragraphs: vec![
                "Someone, perhaps you, tried to create a new AI Hub account with this email address. It already has an account, so nothing was changed."
                    .into(),
            ],
            action: Some(("Sign in".into(), (*login).into())),
            after: vec![
                format!("Forgot your password? Reset it here: {reset}"),
                "If this wasn't you, you can ignore this message.".into(),
            ],
            ..base(
                "Someone tried to sign up with your email address",
                "You already have an AI Hub account",
            )
        },
        Template::WebhookDisabled {
            url,
            endpoint_id,
            reason,
        } => Content {
            paragraphs: vec![
                format!("We stopped sending webhooks to your endpoint {url} ({endpoint_id})."),
                if *reason == "gone" {
                    "It answered 410 Gone, which tells us it no longer wants deliveries.".into()
                } else {
                    "Every delivery to it has failed for too long.".into()
                },
                "Events are still recorded. Once the endpoint works again, enable it under Webhooks in the AI Hub portal and recover the failed deliveries from there."
                    .into(),
            ],
            ..base(
                "Your AI Hub webhook endpoint was disabled",
                "A webhook endpoint was disabled",
            )
        },
        Template::UsageAlert {
            kind,
            threshold,
            subject,
            link,
        } => {
            let (title, text) = match *kind {
                "allowance" => (
                    format!("You have used {threshold}% of your {subject} plan's included tokens"),
                    if *threshold >= 100 {
                        "Further requests this month are paid from your credit balance at each model's price; with no credit left they are refused. Add credit or upgrade your plan to keep going.".to_string()
                    } else {
                        "This is a heads-up so that nothing stops unexpectedly. Usage beyond the included tokens is paid from your credit balance.".to_string()
                    },
                ),
                "key_budget_monthly" | "key_budget_total" => (
                    format!("Your API key \"{subject}\" has used {threshold}% of its spend budget"),
                    if *threshold >= 100 {
                        "Requests with this key are refused until the budget resets or you raise it in the portal.".to_string()
                    } else {
                        "Raise the budget in the portal if this key needs more.".to_string()
                    },
                ),
                "balance_empty" => (
                    "Your AI Hub credit balance is empty".to_string(),
                    "Requests beyond your plan's included tokens are refused until you add credit.".to_string(),
                ),
                _ => (
                    format!("Your AI Hub credit balance is below ${}.{:02}", threshold / 100, threshold % 100),
                    "Add credit so that your requests keep working once the included tokens are used.".to_string(),
                ),
            };
            Content {
                paragraphs: vec![format!("{title}."), text],
                action: Some(("Open billing".into(), (*link).into())),
                ..base(&title, "Usage alert")
            }
        }
    }
}

fn chinese(template: &Template<'_>, name: &str) -> Content {
    let greeting = format!("{name}，您好：");
    let base = |subject: &str, heading: &str| Content {
        subject: subject.into(),
        heading: heading.into(),
        greeting: greeting.clone(),
        paragraphs: Vec::new(),
        action: None,
        after: Vec::new(),
        signature: "— AI Hub 团队",
        fallback_hint: "如果按钮无法使用，请将以下地址复制到浏览器中打开：",
    };
    match template {
        Template::Verification { link } => Content {
            paragraphs: vec!["感谢您注册 AI Hub。请确认这是您的邮箱地址。".into()],
            action: Some(("验证邮箱地址".into(), (*link).into())),
            after: vec![
                "此链接 24 小时内有效，且只能使用一次。如果您没有注册 AI Hub 账户，请忽略此邮件。"
                    .into(),
            ],
            ..base("请验证您在 AI Hub 的邮箱地址", "确认您的邮箱地址")
        },
        Template::PasswordReset { link } => Content {
            paragraphs: vec!["我们收到了重置您 AI Hub 账户密码的请求。".into()],
            action: Some(("设置新密码".into(), (*link).into())),
            after: vec![
                "此链接 1 小时内有效，且只能使用一次。设置新密码后，您在所有设备上的登录都将退出。如果这不是您本人的操作，请忽略此邮件，您的密码不会改变。"
                    .into(),
            ],
            ..base("重置您的 AI Hub 密码", "重置密码")
        },
        Template::Welcome { login } => Content {
            paragraphs: vec![
                "您的邮箱地址已验证，AI Hub 账户已就绪。".into(),
                "登录开发者门户创建 API 密钥，然后将 OpenAI SDK 的 base URL 指向 AI Hub 即可开始使用。"
                    .into(),
            ],
            action: Some(("打开开发者门户".into(), (*login).into())),
            ..base("欢迎使用 AI Hub", "欢迎使用 AI Hub")
        },
        Template::AlreadyRegistered { login, reset } => Content {
            paragraphs: vec![
                "有人（也许是您本人）尝试使用此邮箱地址注册新的 AI Hub 账户。该邮箱已有账户，因此没有做任何更改。"
                    .into(),
            ],
            action: Some(("登录".into(), (*login).into())),
            after: vec![
                format!("忘记密码？请在此重置：{reset}"),
                "如果这不是您本人的操作，请忽略此邮件。".into(),
            ],
            ..base("有人尝试使用您的邮箱地址注册 AI Hub", "您已经有 AI Hub 账户")
        },
        Template::WebhookDisabled {
            url,
            endpoint_id,
            reason,
        } => Content {
            paragraphs: vec![
                format!("我们已停止向您的 Webhook 端点 {url}（{endpoint_id}）发送通知。"),
                if *reason == "gone" {
                    "该端点返回了 410 Gone，表示它不再接收推送。".into()
                } else {
                    "该端点的所有推送已连续失败过久。".into()
                },
                "事件仍会被记录。端点恢复正常后，请在 AI Hub 开发者门户的 Webhooks 页面重新启用它，并在那里恢复失败的推送。"
                    .into(),
            ],
            ..base("您的 AI Hub Webhook 端点已被停用", "Webhook 端点已被停用")
        },
        Template::UsageAlert {
            kind,
            threshold,
            subject,
            link,
        } => {
            let (title, text) = match *kind {
                "allowance" => (
                    format!("您已使用 {subject} 套餐所含令牌的 {threshold}%"),
                    if *threshold >= 100 {
                        "本月后续请求将按各模型价格从您的余额中扣费；余额不足时请求将被拒绝。请充值或升级套餐。".to_string()
                    } else {
                        "特此提醒，以免服务意外中断。超出所含令牌的用量将从您的余额中扣费。".to_string()
                    },
                ),
                "key_budget_monthly" | "key_budget_total" => (
                    format!("您的 API 密钥“{subject}”已使用其消费预算的 {threshold}%"),
                    if *threshold >= 100 {
                        "在预算重置或您在门户中提高预算之前，使用此密钥的请求将被拒绝。".to_string()
                    } else {
                        "如果此密钥需要更多额度，请在门户中提高预算。".to_string()
                    },
                ),
                "balance_empty" => (
                    "您的 AI Hub 余额已用完".to_string(),
                    "在您充值之前，超出套餐所含令牌的请求将被拒绝。".to_string(),
                ),
                _ => (
                    format!("您的 AI Hub 余额已低于 ${}.{:02}", threshold / 100, threshold % 100),
                    "请及时充值，以便在所含令牌用完后请求仍可正常使用。".to_string(),
                ),
            };
            Content {
                paragraphs: vec![format!("{title}。"), text],
                action: Some(("打开账单".into(), (*link).into())),
                ..base(&title, "用量提醒")
            }
        }
    }
}

fn to_text(c: &Content) -> String {
    let mut out = format!("{}\n\n", c.greeting);
    for p in &c.paragraphs {
        out.push_str(p);
        out.push_str("\n\n");
    }
    if let Some((label, url)) = &c.action {
        out.push_str(&format!("{label}:\n{url}\n\n"));
    }
    for p in &c.after {
        out.push_str(p);
        out.push_str("\n\n");
    }
    out.push_str(c.signature);
    out.push('\n');
    out
}

fn to_html(c: &Content, language: Language) -> String {
    let p = |text: &str| {
        format!(
            "<p style=\"margin:0 0 16px;line-height:1.6\">{}</p>",
            escape(text)
        )
    };
    let mut body = String::new();
    body.push_str(&format!(
        "<h1 style=\"font-size:20px;font-weight:600;margin:0 0 24px\">{}</h1>",
        escape(&c.heading)
    ));
    body.push_str(&p(&c.greeting));
    for para in &c.paragraphs {
        body.push_str(&p(para));
    }
    if let Some((label, url)) = &c.action {
        let url = escape(url);
        body.push_str(&format!(
            "<p style=\"margin:24px 0\"><a href=\"{url}\" style=\"display:inline-block;background:#4f46e5;\
             color:#ffffff;text-decoration:none;padding:12px 20px;border-radius:6px;font-weight:600\">{}</a></p>\
             <p style=\"margin:0 0 16px;font-size:13px;color:#6b7280;line-height:1.6\">{}<br>\
             <a href=\"{url}\" style=\"color:#4f46e5;word-break:break-all\">{url}</a></p>",
            escape(label),
            escape(c.fallback_hint),
        ));
    }
    for para in &c.after {
        body.push_str(&p(para));
    }
    body.push_str(&format!(
        "<p style=\"margin:24px 0 0;color:#6b7280\">{}</p>",
        escape(c.signature)
    ));
    format!(
        "<!DOCTYPE html>\n<html lang=\"{lang}\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><title>{title}</title></head>\
         <body style=\"margin:0;padding:24px;background:#f4f5f7;font-family:-apple-system,BlinkMacSystemFont,\
         'Segoe UI',Roboto,'PingFang SC','Microsoft YaHei',sans-serif;color:#1f2937\">\
         <div style=\"max-width:560px;margin:0 auto;background:#ffffff;border-radius:10px;padding:32px\">{body}</div>\
         </body></html>\n",
        lang = language.as_str(),
        title = escape(&c.subject),
    )
}

/// Escapes text for an HTML element or attribute.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    const LINK: &str = "https://hub.example/verify-email?token=abc_DEF-123";

    #[test]
    fn every_template_renders_in_both_languages() {
        let templates = [
            Template::Verification { link: LINK },
            Template::PasswordReset { link: LINK },
            Template::Welcome {
                login: "https://hub.example/login",
            },
            Template::AlreadyRegistered {
                login: "https://hub.example/login",
                reset: "https://hub.example/forgot-password",
            },
            Template::WebhookDisabled {
                url: "https://hooks.example/aihub",
                endpoint_id: "we_1",
                reason: "gone",
            },
        ];
        for t in &templates {
            let en = render(t, Language::En, "Ada");
            let zh = render(t, Language::ZhCn, "Ada");
            assert_ne!(en.subject, zh.subject);
            for r in [&en, &zh] {
                assert!(r.text.contains(t.link()), "{}", r.text);
                assert!(r.html.contains(t.link()), "{}", r.html);
                assert!(r.text.contains("Ada"));
            }
            assert!(zh.html.contains("lang=\"zh-CN\""));
            assert!(zh.text.contains("您好"));
        }
    }

    #[test]
    fn names_are_escaped_in_html() {
        let r = render(
            &Template::Verification { link: LINK },
            Language::En,
            "<script>alert(1)</script>",
        );
        assert!(!r.html.contains("<script>"));
        assert!(r.html.contains("&lt;script&gt;"));
        assert!(r.text.contains("<script>"), "plain text stays as typed");
    }
}
